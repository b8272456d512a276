//! Separable triangle-filter resize of grey frames (PIL's "bilinear" with antialiasing):
//! the filter support grows with the shrink factor so every source pixel contributes when
//! downscaling, and it is ordinary bilinear interpolation when upscaling.

use super::GreyFrame;

/// For each output sample: the first source sample it reads and the normalised weights.
fn axis_weights(src: u32, dst: u32) -> Vec<(usize, Vec<f32>)> {
    let scale = f64::from(src) / f64::from(dst);
    let support = scale.max(1.0);
    (0..dst)
        .map(|i| {
            let center = (f64::from(i) + 0.5) * scale;
            let lo = (center - support).floor().max(0.0) as usize;
            let hi = ((center + support).ceil() as usize).min(src as usize);
            let mut w: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5 - center) / support).abs()).max(0.0))
                .collect();
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|x| *x /= sum);
            }
            (lo, w.into_iter().map(|x| x as f32).collect())
        })
        .collect()
}

pub(super) fn resize_grey(frame: &GreyFrame, width: u32, height: u32) -> GreyFrame {
    if (frame.width, frame.height) == (width, height) || width == 0 || height == 0 {
        return if width == 0 || height == 0 {
            GreyFrame { width, height, pixels: Vec::new() }
        } else {
            frame.clone()
        };
    }
    let (sw, sh) = (frame.width as usize, frame.height as usize);
    let (dw, dh) = (width as usize, height as usize);
    let wx = axis_weights(frame.width, width);
    let wy = axis_weights(frame.height, height);

    let mut rows = vec![0f32; sh * dw];
    for y in 0..sh {
        let src = &frame.pixels[y * sw..(y + 1) * sw];
        let dst = &mut rows[y * dw..(y + 1) * dw];
        for (out, (lo, w)) in dst.iter_mut().zip(&wx) {
            *out = w.iter().zip(&src[*lo..]).map(|(w, &p)| w * f32::from(p)).sum();
        }
    }
    let mut pixels = vec![0u8; dw * dh];
    for (y, (lo, w)) in wy.iter().enumerate() {
        let out = &mut pixels[y * dw..(y + 1) * dw];
        for (x, o) in out.iter_mut().enumerate() {
            let v: f32 = w.iter().enumerate().map(|(k, w)| w * rows[(lo + k) * dw + x]).sum();
            *o = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    GreyFrame { width, height, pixels }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> GreyFrame {
        let pixels =
            (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| f(x, y)).collect();
        GreyFrame::new(w, h, pixels).expect("size matches")
    }

    #[test]
    fn constant_stays_constant_and_sizes_are_right() {
        let f = frame(1024, 768, |_, _| 77);
        for size in [112, 224, 16] {
            let r = f.resize_square(size);
            assert_eq!((r.width(), r.height()), (size, size));
            assert!(r.pixels().iter().all(|&p| p == 77));
        }
        let up = frame(112, 112, |_, _| 200).resize_square(224);
        assert!(up.pixels().iter().all(|&p| p == 200));
    }

    #[test]
    fn downscale_averages_instead_of_aliasing() {
        // A one-pixel checkerboard would alias to black or white under point sampling; an
        // area-aware filter turns it into mid grey.
        let f = frame(1024, 768, |x, y| if (x + y) % 2 == 0 { 0 } else { 255 });
        let r = f.resize_square(112);
        assert!(r.pixels().iter().all(|&p| (120..=135).contains(&p)), "{:?}", &r.pixels()[..16]);
    }

    #[test]
    fn upscale_interpolates_a_ramp() {
        let f = frame(4, 1, |x, _| (x * 80) as u8);
        let r = f.resize(8, 1);
        assert_eq!(r.pixels(), &[0, 20, 60, 100, 140, 180, 220, 240]);
    }
}
