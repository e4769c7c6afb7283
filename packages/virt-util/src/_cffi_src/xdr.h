/* XDR program opcodes and the cffi-visible entry point of virt.util._xdr.
 *
 * This file is both included by xdr.c and parsed by cffi's cdef (build_xdr.py), so it holds only
 * integer #defines and one prototype: no include guard, no other preprocessor lines.
 * The opcode numbers must equal the OP_* constants in virt/util/xdr.py (a test checks this).
 */
#define XDR_OP_VOID 0
#define XDR_OP_INT 1
#define XDR_OP_UINT 2
#define XDR_OP_HYPER 3
#define XDR_OP_UHYPER 4
#define XDR_OP_BOOL 5
#define XDR_OP_FLOAT 6
#define XDR_OP_DOUBLE 7
#define XDR_OP_ENUM 8
#define XDR_OP_FOPAQUE 9
#define XDR_OP_VOPAQUE 10
#define XDR_OP_STRING 11
#define XDR_OP_FARRAY 12
#define XDR_OP_VARRAY 13
#define XDR_OP_OPTIONAL 14
#define XDR_OP_STRUCT 15
#define XDR_OP_UNION 16
#define XDR_OP_COUNT 17

/* Add the Program type, check_program() and set_error_class() to the module named
 * module_name; 0 on success. */
int xdr_install(const char *module_name);
