"""cffi build script (API mode) for virt.util._xdr, the native XDR engine; C lives in xdr.c/xdr.h."""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).parent

ffi = FFI()
ffi.cdef((HERE / "xdr.h").read_text())
ffi.set_source(
    "virt.util._xdr",
    (HERE / "xdr.c").read_text(),
    include_dirs=[str(HERE)],
    # The engine builds Python objects with CPython's full API (fast paths, _PyBytes_Resize), so the
    # module is built for this interpreter rather than for the limited (abi3) API.
    define_macros=[("_CFFI_NO_LIMITED_API", None)],
    py_limited_api=False,
    extra_compile_args=["-O2"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
