/* virt.conf._cwrite: the writers' plans in C (see virt/conf/_writeplan.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "virt.conf._cwrite", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__cwrite(void) { return PyModule_Create(&module); }
