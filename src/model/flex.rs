//! Where a generic `B: Backend` is the CPU backend: the project's own kernels (convolution,
//! GELU) replace Burn's there, and reach flex's tensors through these checks.

use std::any::{Any, TypeId};

use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, NoCheckpointing};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;

/// Which of the CPU backends `B` is.
pub enum OnFlex {
    /// `Flex` itself (inference).
    Plain,
    /// `Autodiff<Flex, BalancedCheckpointing>` (training, `train::compute`).
    Balanced,
    /// `Autodiff<Flex>` (tests).
    Unbalanced,
}

impl OnFlex {
    pub fn of<B: Backend>() -> Option<Self> {
        let b = TypeId::of::<B>();
        [
            (TypeId::of::<Flex>(), OnFlex::Plain),
            (TypeId::of::<Autodiff<Flex, BalancedCheckpointing>>(), OnFlex::Balanced),
            (TypeId::of::<Autodiff<Flex, NoCheckpointing>>(), OnFlex::Unbalanced),
        ]
        .into_iter()
        .find_map(|(id, on)| (id == b).then_some(on))
    }
}

/// `tensor`'s primitive as `P`, the backend's own type (checked through [`OnFlex::of`]).
pub fn primitive<B: Backend, P: 'static, const D: usize>(tensor: Tensor<B, D>) -> P {
    same(tensor.into_primitive().tensor())
}

/// The inverse of [`primitive`].
pub fn tensor<B: Backend, P: 'static, const D: usize>(primitive: P) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(same(primitive)))
}

/// `value` as `U`, the type it has (checked through `TypeId` by the caller).
fn same<T: 'static, U: 'static>(value: T) -> U {
    match (Box::new(value) as Box<dyn Any>).downcast::<U>() {
        Ok(value) => *value,
        Err(_) => unreachable!("the backend's tensor type was checked"),
    }
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
