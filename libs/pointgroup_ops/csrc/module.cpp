// The operators' schemas (torch.ops.pointgroup_ops.*) and the Python module
// `pointgroup_ops_cuda`, whose functions Pointcept code calls directly:
//   ballquery_batch_p(coords, batch_idxs, batch_offsets, radius, meanActive=0) -> (idx, start_len)
//   bfs_cluster(semantic_label, ball_query_idxs, start_len, threshold) -> (cluster_idxs, cluster_offsets)
//   with_cuda() -> bool
// The first two are the registered operators themselves (torch.ops handles the arguments,
// keywords and defaults of the schemas below); the kernels are registered per device by
// cpu/register_cpu.cpp and cuda/register_cuda.cpp (or no_cuda/register_no_cuda.cpp).
// The module keeps its historical name in CPU-only builds too. torch must be imported first.
#include <Python.h>
#include <torch/library.h>

#include "pointgroup_ops.h"

TORCH_LIBRARY(pointgroup_ops, m) {
  // idx int32 (nActive,): every neighbour list, one after the other, each in ascending index
  // order and holding the point itself; start_len int32 (n, 2): (start, length) of each list.
  m.def("ballquery_batch_p(Tensor coords, Tensor batch_idxs, Tensor batch_offsets, float radius, "
        "int meanActive=0) -> (Tensor, Tensor)");
  // cluster_idxs int32 (total, 2) rows [cluster_id, point_index]; cluster_offsets int32 (clusters + 1,).
  m.def("bfs_cluster(Tensor semantic_label, Tensor ball_query_idxs, Tensor start_len, int threshold) "
        "-> (Tensor, Tensor)");
}

namespace {

PyObject* with_cuda(PyObject*, PyObject*) { return PyBool_FromLong(pointgroup_ops::built_with_cuda()); }

PyMethodDef methods[] = {
    {"with_cuda", with_cuda, METH_NOARGS, "with_cuda() -> bool: whether this build holds the CUDA kernels"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "pointgroup_ops_cuda",
    "pointgroup_ops compiled kernels: ball query with batch offsets and BFS clustering",
    -1,
    methods,
};

// module.NAME = torch.ops.pointgroup_ops.NAME
bool add_operator(PyObject* module, PyObject* ops, const char* name) {
  PyObject* op = PyObject_GetAttrString(ops, name);
  if (op == nullptr) return false;
  if (PyModule_AddObject(module, name, op) < 0) {
    Py_DECREF(op);
    return false;
  }
  return true;
}

}  // namespace

PyMODINIT_FUNC PyInit_pointgroup_ops_cuda(void) {
  PyObject* module = PyModule_Create(&module_def);
  if (module == nullptr) return nullptr;
  PyObject* torch = PyImport_ImportModule("torch");
  PyObject* torch_ops = torch ? PyObject_GetAttrString(torch, "ops") : nullptr;
  PyObject* ops = torch_ops ? PyObject_GetAttrString(torch_ops, "pointgroup_ops") : nullptr;
  const bool ok = ops && add_operator(module, ops, "ballquery_batch_p") && add_operator(module, ops, "bfs_cluster");
  Py_XDECREF(ops);
  Py_XDECREF(torch_ops);
  Py_XDECREF(torch);
  if (!ok) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
