"""cffi build script (API mode) for virt.util._linux: namespace, mount and capability syscalls (linux.c/h)."""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).parent

ffi = FFI()
ffi.cdef((HERE / "linux.h").read_text())
ffi.set_source(
    "virt.util._linux",
    (HERE / "linux.c").read_text(),
    include_dirs=[str(HERE)],
    # clone_fork calls the interpreter's fork hooks (PyOS_BeforeFork...), so build for this interpreter.
    define_macros=[("_CFFI_NO_LIMITED_API", None)],
    py_limited_api=False,
    extra_compile_args=["-O2"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
