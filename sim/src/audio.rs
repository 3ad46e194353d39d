//! Deterministic audio bodies that look like the real formats (magic bytes and frame headers),
//! so format sniffing and content-type handling can be tested without real codecs.

/// The content type for a requested format such as OpenAI's `response_format` (`mp3`, `wav`,
/// ...) or ElevenLabs' `output_format` (`mp3_44100_128`, `pcm_16000`, ...).
pub(crate) fn content_type_for(format: &str) -> Option<&'static str> {
    let codec = format.split('_').next().unwrap_or(format);
    Some(match codec {
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "opus" => "audio/opus",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "pcm" => "audio/pcm",
        "ulaw" => "audio/basic",
        "alaw" => "audio/alaw",
        _ => return None,
    })
}

/// A small deterministic byte generator (xorshift64*).
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn fill(&mut self, out: &mut Vec<u8>, len: usize) {
        for _ in 0..len {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            out.push((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8);
        }
    }
}

/// FNV-1a, to seed the payload from the request.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Audio bytes of `content_type`, `units` long (frames, or 1/10 s of samples), seeded by `seed`.
pub(crate) fn synthesize(content_type: &str, seed: u64, units: usize) -> Vec<u8> {
    let len = buffered_len(content_type, units);
    let mut synth = Synth::new(content_type, seed, len);
    let mut out = Vec::with_capacity(len as usize);
    synth.fill(&mut out, len as usize);
    out
}

/// The length of [`synthesize`]'s answer.
pub(crate) fn buffered_len(content_type: &str, units: usize) -> u64 {
    let units = units.clamp(2, 200) as u64;
    let format = Format::of(content_type);
    format.header(0).len() as u64 + units * format.frame_len() as u64
}

/// The audio formats the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Mpeg,
    Wav,
    Opus,
    Aac,
    Flac,
    /// Raw samples: pcm, ulaw, alaw and anything unknown.
    Raw,
}

impl Format {
    fn of(content_type: &str) -> Self {
        match content_type {
            "audio/mpeg" => Format::Mpeg,
            "audio/wav" => Format::Wav,
            "audio/opus" => Format::Opus,
            "audio/aac" => Format::Aac,
            "audio/flac" => Format::Flac,
            _ => Format::Raw,
        }
    }

    /// The bytes before the first frame, for a body `total` bytes long (WAV states its size).
    fn header(self, total: u64) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Format::Mpeg => {
                // ID3v2.4 tag with one TSSE (encoder) frame.
                let text = b"\x03media-sdk simulator";
                out.extend_from_slice(b"ID3\x04\x00\x00");
                out.extend_from_slice(&syncsafe(10 + text.len() as u32));
                out.extend_from_slice(b"TSSE");
                out.extend_from_slice(&syncsafe(text.len() as u32));
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(text);
            }
            Format::Wav => {
                // 16-bit mono 24 kHz; sizes beyond 4 GiB are stated as the largest.
                let data_len = u32::try_from(total.saturating_sub(44)).unwrap_or(u32::MAX);
                out.extend_from_slice(b"RIFF");
                out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
                out.extend_from_slice(b"WAVEfmt ");
                out.extend_from_slice(&16u32.to_le_bytes());
                out.extend_from_slice(&1u16.to_le_bytes()); // PCM
                out.extend_from_slice(&1u16.to_le_bytes()); // mono
                out.extend_from_slice(&24_000u32.to_le_bytes());
                out.extend_from_slice(&48_000u32.to_le_bytes());
                out.extend_from_slice(&2u16.to_le_bytes());
                out.extend_from_slice(&16u16.to_le_bytes());
                out.extend_from_slice(b"data");
                out.extend_from_slice(&data_len.to_le_bytes());
            }
            Format::Opus => {
                // An Ogg page carrying the OpusHead identification header.
                ogg_page(
                    &mut out,
                    0x02,
                    0,
                    b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00",
                );
            }
            Format::Flac => {
                out.extend_from_slice(b"fLaC");
                out.extend_from_slice(&[0x80, 0x00, 0x00, 0x22]); // last block, STREAMINFO, 34 bytes
                Noise::new(0x5eed).fill(&mut out, 34);
            }
            Format::Aac | Format::Raw => {}
        }
        out
    }

    /// Bytes of one frame (or 1/10 s of samples).
    fn frame_len(self) -> usize {
        match self {
            Format::Mpeg => 417,
            Format::Wav | Format::Raw => 4800,
            Format::Opus => 27 + 1 + 160,
            Format::Aac => 207,
            Format::Flac => 302,
        }
    }

    /// Appends frame number `index` (from 1).
    fn frame(self, noise: &mut Noise, index: u32, out: &mut Vec<u8>) {
        match self {
            // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, joint stereo: 417-byte frames.
            Format::Mpeg => {
                out.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
                noise.fill(out, 413);
            }
            Format::Wav | Format::Raw => noise.fill(out, 4800),
            Format::Opus => {
                let mut packet = Vec::with_capacity(160);
                noise.fill(&mut packet, 160);
                ogg_page(out, 0x00, index, &packet);
            }
            // ADTS frames: AAC-LC, 44.1 kHz, stereo.
            Format::Aac => {
                let frame_len = 7 + 200usize;
                out.extend_from_slice(&[
                    0xFF,
                    0xF1,
                    0x50,
                    0x80 | ((frame_len >> 11) as u8 & 0x03),
                    (frame_len >> 3) as u8,
                    (((frame_len & 0x07) as u8) << 5) | 0x1F,
                    0xFC,
                ]);
                noise.fill(out, 200);
            }
            Format::Flac => {
                out.extend_from_slice(&[0xFF, 0xF8]);
                noise.fill(out, 300);
            }
        }
    }
}

/// An endless audio body produced a piece at a time: the format's header, then frames. Holds
/// at most one frame beyond what was asked for, whatever the length of the body.
pub(crate) struct Synth {
    format: Format,
    noise: Noise,
    /// Produced but not yet handed out.
    pending: Vec<u8>,
    offset: usize,
    frames: u32,
}

impl std::fmt::Debug for Synth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synth")
            .field("format", &self.format)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Synth {
    /// The body of a `content_type` answer seeded by `seed`, `total` bytes long in all (the
    /// header states it where the format does).
    pub(crate) fn new(content_type: &str, seed: u64, total: u64) -> Self {
        let format = Format::of(content_type);
        Self {
            format,
            noise: Noise::new(seed),
            pending: format.header(total),
            offset: 0,
            frames: 0,
        }
    }

    /// Appends the next `len` bytes of the body to `out`.
    pub(crate) fn fill(&mut self, out: &mut Vec<u8>, mut len: usize) {
        while len > 0 {
            if self.offset == self.pending.len() {
                self.pending.clear();
                self.offset = 0;
                self.frames += 1;
                self.format
                    .frame(&mut self.noise, self.frames, &mut self.pending);
            }
            let take = len.min(self.pending.len() - self.offset);
            out.extend_from_slice(&self.pending[self.offset..self.offset + take]);
            self.offset += take;
            len -= take;
        }
    }
}

fn syncsafe(n: u32) -> [u8; 4] {
    [
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

fn ogg_page(out: &mut Vec<u8>, header_type: u8, sequence: u32, packet: &[u8]) {
    out.extend_from_slice(b"OggS\x00");
    out.push(header_type);
    out.extend_from_slice(&u64::from(sequence).to_le_bytes()); // granule position
    out.extend_from_slice(&0x5349_4d75u32.to_le_bytes()); // stream serial
    out.extend_from_slice(&sequence.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // checksum (not computed)
    out.push(1);
    out.push(packet.len() as u8);
    out.extend_from_slice(packet);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_their_magic_bytes() {
        let cases = [
            ("audio/mpeg", &b"ID3"[..]),
            ("audio/wav", b"RIFF"),
            ("audio/opus", b"OggS"),
            ("audio/aac", &[0xFF, 0xF1]),
            ("audio/flac", b"fLaC"),
        ];
        for (content_type, magic) in cases {
            let bytes = synthesize(content_type, 7, 3);
            assert!(bytes.starts_with(magic), "{content_type}");
        }
    }

    #[test]
    fn mp3_frames_follow_the_tag() {
        let bytes = synthesize("audio/mpeg", 1, 2);
        let tag_len = 10 + 10 + 20; // ID3 header, TSSE frame header, TSSE text
        assert_eq!(&bytes[tag_len..tag_len + 2], &[0xFF, 0xFB]);
        assert_eq!(bytes.len(), tag_len + 2 * 417);
        assert_eq!(&bytes[tag_len + 417..tag_len + 419], &[0xFF, 0xFB]);
    }

    #[test]
    fn payload_is_deterministic_per_seed() {
        assert_eq!(
            synthesize("audio/mpeg", 5, 4),
            synthesize("audio/mpeg", 5, 4)
        );
        assert_ne!(
            synthesize("audio/mpeg", 5, 4),
            synthesize("audio/mpeg", 6, 4)
        );
    }

    #[test]
    fn a_body_read_in_pieces_is_the_body_read_whole() {
        for content_type in [
            "audio/mpeg",
            "audio/wav",
            "audio/opus",
            "audio/aac",
            "audio/flac",
            "audio/pcm",
        ] {
            let whole = synthesize(content_type, 9, 5);
            assert_eq!(
                whole.len() as u64,
                buffered_len(content_type, 5),
                "{content_type}"
            );
            let mut synth = Synth::new(content_type, 9, whole.len() as u64);
            let mut pieces = Vec::new();
            for len in [1, 7, 500, 3, 10_000] {
                let len = len.min(whole.len() - pieces.len());
                synth.fill(&mut pieces, len);
            }
            let rest = whole.len() - pieces.len();
            synth.fill(&mut pieces, rest);
            assert_eq!(pieces, whole, "{content_type}");
        }
    }

    #[test]
    fn content_types_follow_the_format_names() {
        assert_eq!(content_type_for("mp3"), Some("audio/mpeg"));
        assert_eq!(content_type_for("mp3_44100_128"), Some("audio/mpeg"));
        assert_eq!(content_type_for("pcm_16000"), Some("audio/pcm"));
        assert_eq!(content_type_for("opus_48000_64"), Some("audio/opus"));
        assert_eq!(content_type_for("ulaw_8000"), Some("audio/basic"));
        assert_eq!(content_type_for("midi"), None);
    }
}
