// The Python module `pointops._C`. It has no attributes of its own: importing it loads the
// shared library, whose static initialisers register every operator (torch.ops.pointops.*)
// from the TORCH_LIBRARY_FRAGMENT / TORCH_LIBRARY_IMPL blocks of the other source files.
// torch must be imported first (pointops/__init__.py does).
#include <Python.h>

static struct PyModuleDef pointops_c_module = {
    PyModuleDef_HEAD_INIT,
    "pointops._C",
    "Compiled pointops operators; use them through torch.ops.pointops or the pointops package.",
    -1,
    nullptr,
};

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&pointops_c_module); }
