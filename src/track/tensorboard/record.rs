//! TFRecord framing, as TensorBoard reads event files: each record is its length (u64,
//! little-endian), the masked CRC-32C of those 8 bytes, the payload, and the payload's
//! masked CRC-32C (both u32, little-endian). CRC-32C is Castagnoli's, not zlib's CRC-32.

/// The CRC TFRecord stores: rotated right by 15 and offset, so that a CRC over data that
/// holds CRCs stays strong.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One framed record.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc(payload).to_le_bytes());
    out
}

/// The payloads of the whole, intact records at the start of `bytes`, and whether that is
/// all of it (`false`: a record cut short by a crash, or damaged, and what follows it).
pub fn records(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut out = vec![];
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some(payload) = next(rest) else { return (out, false) };
        out.push(payload);
        rest = &rest[payload.len() + 16..];
    }
    (out, true)
}

fn next(bytes: &[u8]) -> Option<&[u8]> {
    let len_bytes = bytes.get(..8)?;
    let crc = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    if crc != masked_crc(len_bytes) {
        return None;
    }
    let len = usize::try_from(u64::from_le_bytes(len_bytes.try_into().ok()?)).ok()?;
    let end = 12usize.checked_add(len)?;
    let payload = bytes.get(12..end)?;
    let crc = u32::from_le_bytes(bytes.get(end..end.checked_add(4)?)?.try_into().ok()?);
    (crc == masked_crc(payload)).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_castagnolis_masked() {
        // The check value of CRC-32C (RFC 3720, B.4); zlib's CRC-32 of it is 0xcbf43926.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let crc: u32 = 0xe306_9283;
        // The mask as TensorFlow's crc32c.h writes it.
        #[allow(clippy::manual_rotate)]
        let masked = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), masked);
    }

    #[test]
    fn framed_records_read_back_and_a_cut_or_damaged_tail_is_left_out() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        file.extend(frame(b"third record"));
        assert_eq!(file.len(), 5 + 12 + 3 * 16);
        let (got, whole) = records(&file);
        assert_eq!(got, [&b"first"[..], b"", b"third record"]);
        assert!(whole);

        let cut = &file[..file.len() - 3];
        assert_eq!(records(cut), (vec![&b"first"[..], b""], false));

        let mut damaged = file.clone();
        damaged[13] ^= 1;
        assert_eq!(records(&damaged), (vec![], false));
    }
}
