//! 2-D convolution, forward and backward, over plain f32 slices in NCHW order: im2col + GEMM
//! over chunks of images ([`im2col`]); 3×3 convolutions of stride 1 on planes of 7×7 or more
//! compute their output and both gradients by Winograd's F(4×4, 3×3) or F(2×2, 3×3) instead
//! ([`winograd`]), with 4× or 2.25× fewer multiplications. Flex's own convolution ran
//! ResNet-18's layers 3–7× slower than PyTorch's (forward + backward, 2 cores): its input
//! gradient is a transposed convolution with one small GEMM per image and a single-threaded
//! scatter, and its weight gradient a convolution with batch and channels swapped, whose GEMMs
//! are nine columns wide.

pub mod im2col;
pub mod winograd;

pub use im2col::Geometry;

/// `[n, o, oh, ow]` = conv(`x` `[n, c, h, w]`, `weight` `[o, c, kh, kw]`) + `bias` `[o]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    if winograd::fits(g) {
        winograd::forward(g, x, weight, bias)
    } else {
        im2col::forward(g, x, weight, bias)
    }
}

/// The gradient with respect to the input, `[n, c, h, w]`, from the output's `dy`.
pub fn grad_input(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    if winograd::fits(g) {
        winograd::grad_input(g, weight, dy)
    } else {
        im2col::grad_input(g, weight, dy)
    }
}

/// The gradient with respect to the weight, `[o, c, kh, kw]`.
pub fn grad_weight(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    if winograd::fits(g) { winograd::grad_weight(g, x, dy) } else { im2col::grad_weight(g, x, dy) }
}

/// The gradient with respect to the bias, `[o]`.
pub fn grad_bias(g: &Geometry, dy: &[f32]) -> Vec<f32> {
    im2col::grad_bias(g, dy)
}

#[cfg(test)]
mod tests {
    use super::{Geometry, im2col, winograd};

    /// Winograd's algorithms take the size-keeping 3×3 convolutions of stride 1; im2col the rest.
    #[test]
    fn each_convolution_takes_its_algorithm() {
        let x = crate::kernels::checks::wave(2 * 3 * 8 * 8, 0.37);
        let w = crate::kernels::checks::wave(4 * 3 * 9, 0.71);
        let dy = crate::kernels::checks::wave(2 * 4 * 8 * 8, 0.53);
        let g = Geometry::new([2, 3, 8, 8], [4, 3, 3, 3], [1, 1], [1, 1]).unwrap();
        assert!(winograd::fits(&g));
        assert_eq!(super::forward(&g, &x, &w, None), winograd::forward(&g, &x, &w, None));
        assert_eq!(super::grad_input(&g, &w, &dy), winograd::grad_input(&g, &w, &dy));
        assert_eq!(super::grad_weight(&g, &x, &dy), winograd::grad_weight(&g, &x, &dy));
        let g = Geometry::new([2, 3, 8, 8], [4, 3, 3, 3], [2, 2], [1, 1]).unwrap();
        let dy = &dy[..2 * 4 * 4 * 4];
        assert!(!winograd::fits(&g));
        assert_eq!(super::forward(&g, &x, &w, None), im2col::forward(&g, &x, &w, None));
        assert_eq!(super::grad_input(&g, &w, dy), im2col::grad_input(&g, &w, dy));
        assert_eq!(super::grad_weight(&g, &x, dy), im2col::grad_weight(&g, &x, dy));
    }
}
