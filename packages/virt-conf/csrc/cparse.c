/* virt.conf._cparse: the parsers' plans in C (see virt/conf/_parseplan.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "virt.conf._cparse", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__cparse(void) { return PyModule_Create(&module); }
