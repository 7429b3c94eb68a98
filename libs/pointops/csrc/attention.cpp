// Schemas of attention_relation_step / attention_fusion_step and their backwards.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // out[t, g] = sum_c query[index_target[t], g, c] * key[index_refer[t], g, c] * weight[c];
  // 0 where either index is -1.
  m.def(
      "attention_relation_step(Tensor query, Tensor key, Tensor weight, Tensor index_target, "
      "Tensor index_refer) -> Tensor");
  // -> (grad_query, grad_key, grad_weight); deterministic.
  m.def(
      "attention_relation_step_backward(Tensor grad_output, Tensor query, Tensor key, "
      "Tensor weight, Tensor index_target, Tensor index_refer) -> (Tensor, Tensor, Tensor)");
  // out[r, g, c] = sum over t with index_target[t] == r of weight[t, g] * value[index_refer[t], g, c];
  // deterministic (segmented sum), pairs with a -1 index skipped.
  m.def(
      "attention_fusion_step(Tensor weight, Tensor value, Tensor index_target, "
      "Tensor index_refer) -> Tensor");
  // -> (grad_weight, grad_value); deterministic.
  m.def(
      "attention_fusion_step_backward(Tensor grad_output, Tensor weight, Tensor value, "
      "Tensor index_target, Tensor index_refer) -> (Tensor, Tensor)");
}
