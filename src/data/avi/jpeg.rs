//! One MJPEG frame to grey: the luma plane of the JPEG, decoded by `zune-jpeg`.
//!
//! MJPEG in AVI may omit the Huffman tables (the AVI1/OpenDML convention: the decoder is
//! expected to know the JPEG Annex K tables). zune-jpeg only supplies them when the frame
//! carries an `AVI1` APP0 segment, so frames without a DHT segment get the standard tables
//! inserted before their SOS marker here.

use std::borrow::Cow;

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// Decode a JPEG to its `width × height` luma plane. Images larger than the expected size are
/// rejected before any pixel memory is allocated.
pub(crate) fn decode_grey(data: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let data = with_huffman_tables(data);
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_strict_mode(true)
        .set_max_width(width as usize)
        .set_max_height(height as usize);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&data[..]), options);
    let pixels = decoder.decode().map_err(|e| format!("JPEG decode failed: {e:?}"))?;
    let (w, h) =
        decoder.dimensions().ok_or_else(|| "JPEG decode returned no dimensions".to_owned())?;
    if (w, h) != (width as usize, height as usize) {
        return Err(format!("JPEG is {w}×{h} but the AVI header says {width}×{height}"));
    }
    if pixels.len() != w * h {
        return Err(format!(
            "JPEG decoded to {} bytes, expected {} (one grey channel)",
            pixels.len(),
            w * h
        ));
    }
    Ok(pixels)
}

/// The frame unchanged when it has a DHT segment (or its markers cannot be followed: the
/// decoder then reports the damage), else the frame with the standard tables before SOS.
fn with_huffman_tables(data: &[u8]) -> Cow<'_, [u8]> {
    match find_sos_without_dht(data) {
        Some(sos) => {
            let mut out = Vec::with_capacity(data.len() + STANDARD_DHT.len());
            out.extend_from_slice(&data[..sos]);
            out.extend_from_slice(&STANDARD_DHT);
            out.extend_from_slice(&data[sos..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(data),
    }
}

/// Offset of the SOS marker when no DHT marker precedes it.
fn find_sos_without_dht(data: &[u8]) -> Option<usize> {
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut pos = 2;
    loop {
        if *data.get(pos)? != 0xFF {
            return None;
        }
        let mut marker_pos = pos;
        while *data.get(marker_pos + 1)? == 0xFF {
            marker_pos += 1;
        }
        let marker = *data.get(marker_pos + 1)?;
        match marker {
            0xC4 => return None,
            0xDA => return Some(marker_pos),
            // Markers without a length field.
            0x01 | 0xD0..=0xD8 => pos = marker_pos + 2,
            _ => {
                let hi = *data.get(marker_pos + 2)?;
                let lo = *data.get(marker_pos + 3)?;
                pos = marker_pos + 2 + usize::from(u16::from_be_bytes([hi, lo]));
            }
        }
    }
}

/// A DHT segment holding the four JPEG Annex K.3 tables (luma/chroma × DC/AC).
const STANDARD_DHT: [u8; 420] = {
    const PARTS: [(u8, &[u8; 16], &[u8]); 4] = [
        (0x00, &DC_LUMA_BITS, &DC_VALUES),
        (0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES),
        (0x01, &DC_CHROMA_BITS, &DC_VALUES),
        (0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES),
    ];
    let mut out = [0u8; 420];
    out[0] = 0xFF;
    out[1] = 0xC4;
    out[2] = 0x01; // length 418 = 0x01A2, counting itself but not the marker
    out[3] = 0xA2;
    let mut pos = 4;
    let mut t = 0;
    while t < 4 {
        let (class_id, bits, values) = PARTS[t];
        out[pos] = class_id;
        pos += 1;
        let mut i = 0;
        while i < 16 {
            out[pos] = bits[i];
            pos += 1;
            i += 1;
        }
        let mut i = 0;
        while i < values.len() {
            out[pos] = values[i];
            pos += 1;
            i += 1;
        }
        t += 1;
    }
    out
};

const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
#[rustfmt::skip]
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
#[rustfmt::skip]
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey JPEG from jpeg-encoder (which writes the Annex K tables as its DHT).
    fn sample_jpeg() -> (Vec<u8>, Vec<u8>) {
        let (w, h) = (40u16, 24u16);
        let grey: Vec<u8> =
            (0..usize::from(w) * usize::from(h)).map(|i| ((i * 37) % 251) as u8).collect();
        let rgb: Vec<u8> = grey.iter().flat_map(|&p| [p, p, p]).collect();
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 90)
            .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        (jpeg, grey)
    }

    /// The JPEG with every DHT segment cut out.
    fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut pos = 2;
        while jpeg[pos] == 0xFF && jpeg[pos + 1] != 0xDA {
            let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
            if jpeg[pos + 1] != 0xC4 {
                out.extend_from_slice(&jpeg[pos..pos + 2 + len]);
            }
            pos += 2 + len;
        }
        out.extend_from_slice(&jpeg[pos..]);
        out
    }

    #[test]
    fn frames_without_huffman_tables_decode_with_the_standard_ones() {
        let (jpeg, _) = sample_jpeg();
        let stripped = strip_dht(&jpeg);
        assert!(stripped.len() < jpeg.len(), "the sample has a DHT segment to strip");
        assert!(find_sos_without_dht(&jpeg).is_none());
        assert!(find_sos_without_dht(&stripped).is_some());
        let full = decode_grey(&jpeg, 40, 24).expect("with DHT");
        let fallback = decode_grey(&stripped, 40, 24).expect("without DHT");
        assert_eq!(full, fallback);
    }

    #[test]
    fn luma_is_close_to_the_encoded_grey() {
        let (jpeg, grey) = sample_jpeg();
        let out = decode_grey(&jpeg, 40, 24).expect("decode");
        let mean_err: f64 =
            out.iter().zip(&grey).map(|(&a, &b)| f64::from(a.abs_diff(b))).sum::<f64>()
                / grey.len() as f64;
        assert!(mean_err < 6.0, "mean error {mean_err}");
    }

    #[test]
    fn wrong_size_and_garbage_are_errors() {
        let (jpeg, _) = sample_jpeg();
        assert!(decode_grey(&jpeg, 20, 24).is_err(), "larger than the header allows");
        assert!(decode_grey(&jpeg, 48, 24).is_err(), "smaller than the header says");
        assert!(decode_grey(&jpeg[..jpeg.len() / 2], 40, 24).is_err(), "cut in half");
        assert!(decode_grey(b"not a jpeg at all", 40, 24).is_err());
        assert!(decode_grey(&[], 40, 24).is_err());
    }
}
