//! Between Burn's tensors on the CPU backends (`Flex`, `Autodiff<Flex, C>`) and the kernels'
//! slices: a tensor's primitive and back, a flex tensor's values, values as a flex tensor.

use burn::backend::flex::FlexTensor;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::FloatTensor;

/// `tensor`'s primitive (`FlexTensor` on `Flex`, `AutodiffTensor<Flex>` under autodiff).
pub fn primitive<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> FloatTensor<B> {
    tensor.into_primitive().tensor()
}

/// The inverse of [`primitive`].
pub fn tensor<B: Backend, const D: usize>(primitive: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

/// A contiguous f32 tensor's values.
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice().expect("a contiguous f32 tensor")
}

/// `values` as a flex tensor of `shape`.
pub fn flex<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A small tensor's values as f32 on the host (a layer's parameters or statistics).
pub fn host_values<B: Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().expect("f32 values")
}
