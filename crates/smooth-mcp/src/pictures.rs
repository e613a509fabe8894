//! Previews of images a browser task produced (PNG, JPEG, WebP screenshots), small enough for
//! a model to look at.
//!
//! Hosts reject an image with any side over 8000 px, and a rejected image can poison the rest
//! of the conversation; vision models see little past ~1568 px on the long side anyway. So every
//! preview is scaled to fit 1568 px, flattened onto white and re-encoded as JPEG,
//! then shrunk further until its base64 text fits the caller's budget (`--max-image-kb`).
//!
//! The input comes from the agent's browser, so it is untrusted: the header is read first and
//! images declaring absurd dimensions are refused before any pixel buffer is allocated.
//! Knows nothing of MCP: the caller wraps a [`Preview`] in whatever content type it needs.

use std::io::Cursor;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use image::codecs::jpeg::JpegEncoder;
use image::error::LimitErrorKind;
use image::imageops::FilterType;
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits, RgbaImage};

/// Longest side of a preview, in pixels: the most vision models look at without scaling.
const MAX_LONG_SIDE: u32 = 1568;
/// Widest or tallest image we agree to decode.
const MAX_DECLARED_SIDE: u32 = 20_000;
/// Most pixels we agree to decode (100 MP: 400 MB as RGBA, already generous for a page).
const MAX_DECLARED_PIXELS: u64 = 100_000_000;
/// Most memory one decode may allocate.
const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;
/// Keeps text in screenshots crisp at a fraction of PNG's size.
const JPEG_QUALITY: u8 = 80;
/// Largest scale factor of one shrinking step, so that every step makes real progress.
const MAX_SHRINK_STEP: f64 = 0.75;
/// Below this long side a screenshot shows nothing useful; give up instead.
const MIN_LONG_SIDE: u32 = 256;
/// The only format previews are encoded in.
const PREVIEW_MIME: &str = "image/jpeg";

/// An image ready to show to a model: JPEG, base64 (standard alphabet, no line breaks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub base64: String,
    pub mime_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an image has no preview. Each message says what was wrong and what would work.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("not a PNG, JPEG or WebP image (its first bytes match none of these formats)")]
    NotAPicture,
    #[error(
        "the image is too large to preview ({found}); previews take at most {MAX_DECLARED_SIDE} px \
         a side and {} megapixels — capture a smaller viewport or a single element",
        MAX_DECLARED_PIXELS / 1_000_000
    )]
    TooLarge { found: String },
    #[error("the image could not be decoded (damaged or truncated?): {0}")]
    Decode(#[source] ImageError),
    #[error("the preview could not be encoded as JPEG: {0}")]
    Encode(#[source] ImageError),
    #[error(
        "even scaled down to {width}×{height} px the preview needs {needed} bytes of base64, \
         over the limit of {limit}; raise --max-image-kb or fetch the file itself"
    )]
    DoesNotFit {
        width: u32,
        height: u32,
        needed: usize,
        limit: usize,
    },
}

/// Whether `mime` is a format we preview (PNG, JPEG, WebP).
pub fn is_picture(mime: &str) -> bool {
    matches!(mime, "image/png" | "image/jpeg" | "image/webp")
}

/// Decode `bytes` (refusing absurd declared dimensions before decoding), scale to fit 1568 px
/// on the long side, flatten any alpha onto white and encode as JPEG; while the base64 text is
/// longer than `max_base64_bytes`, shrink (down to a floor) and try again.
pub fn preview(bytes: &[u8], max_base64_bytes: usize) -> Result<Preview, PictureError> {
    let (width, height) = reader(bytes)?.into_dimensions().map_err(refusal)?;
    if u64::from(width) * u64::from(height) > MAX_DECLARED_PIXELS {
        return Err(PictureError::TooLarge {
            found: format!("{width}×{height} px"),
        });
    }
    let image = reader(bytes)?.decode().map_err(refusal)?;
    // RGB from here on: every later scaling works on three channels and JPEG takes them as is.
    let fitted = DynamicImage::ImageRgb8(fit(opaque(image), MAX_LONG_SIDE).into_rgb8());
    shrink_to_budget(&fitted, max_base64_bytes)
}

/// A reader for `bytes` that decodes only our three formats, within our limits.
fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, PictureError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        // Reading a slice cannot fail; if it somehow did, the format stays unknown.
        .map_err(|_| PictureError::NotAPicture)?;
    if !matches!(
        reader.format(),
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP)
    ) {
        return Err(PictureError::NotAPicture);
    }
    // `Limits` is non-exhaustive: start from the defaults and tighten.
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DECLARED_SIDE);
    limits.max_image_height = Some(MAX_DECLARED_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    Ok(reader)
}

/// A decoder's refusal: over our limits, or not decodable at all.
fn refusal(error: ImageError) -> PictureError {
    match error {
        // The decoders say which limit, not the dimensions.
        ImageError::Limits(limit) => PictureError::TooLarge {
            found: match limit.kind() {
                LimitErrorKind::DimensionError => format!("over {MAX_DECLARED_SIDE} px a side"),
                LimitErrorKind::InsufficientMemory => format!(
                    "decoding needs over {} MiB",
                    MAX_DECODE_ALLOC / (1024 * 1024)
                ),
                _ => limit.to_string(),
            },
        },
        other => PictureError::Decode(other),
    }
}

/// `image` without transparency: JPEG has none, and transparent pixels would otherwise come
/// out as whatever colour they happen to hold (often black). Flattening before scaling also
/// keeps those colours from bleeding into their neighbours, as the scaler does not
/// premultiply alpha.
fn opaque(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return image;
    }
    let mut rgba: RgbaImage = image.into_rgba8();
    for pixel in rgba.pixels_mut() {
        let [r, g, b, a] = pixel.0;
        let over_white = |channel: u8| {
            let (c, a) = (u16::from(channel), u16::from(a));
            // Rounded `c·a + 255·(1−a)` in 8-bit fixed point; never above 255.
            u8::try_from((c * a + 255 * (255 - a) + 127) / 255).unwrap_or(u8::MAX)
        };
        pixel.0 = [over_white(r), over_white(g), over_white(b), u8::MAX];
    }
    DynamicImage::ImageRgba8(rgba)
}

/// `image` scaled down (never up) so that its long side is at most `long_side`.
fn fit(image: DynamicImage, long_side: u32) -> DynamicImage {
    if image.width().max(image.height()) <= long_side {
        return image;
    }
    // Triangle (bilinear, widened to the scale factor) keeps small text legible at a fraction
    // of Lanczos3's cost; see BENCHMARKS.md.
    image.resize(long_side, long_side, FilterType::Triangle)
}

/// Encode `fitted` (RGB), shrinking it until its base64 text fits `max_base64_bytes`.
fn shrink_to_budget(
    fitted: &DynamicImage,
    max_base64_bytes: usize,
) -> Result<Preview, PictureError> {
    let mut long_side = fitted.width().max(fitted.height());
    let mut scaled: Option<DynamicImage> = None;
    loop {
        let current = scaled.as_ref().unwrap_or(fitted);
        let jpeg = encode_jpeg(current)?;
        let needed = base64::encoded_len(jpeg.len(), true).unwrap_or(usize::MAX);
        if needed <= max_base64_bytes {
            return Ok(Preview {
                base64: STANDARD.encode(&jpeg),
                mime_type: PREVIEW_MIME,
                width: current.width(),
                height: current.height(),
            });
        }
        if long_side <= MIN_LONG_SIDE {
            return Err(PictureError::DoesNotFit {
                width: current.width(),
                height: current.height(),
                needed,
                limit: max_base64_bytes,
            });
        }
        // JPEG size grows roughly with the pixel count: aim a little under the budget in one
        // step, but always shrink by at least MAX_SHRINK_STEP and never below the floor.
        let aim = 0.95 * (max_base64_bytes as f64 / needed as f64).sqrt();
        let next = (f64::from(long_side) * aim.min(MAX_SHRINK_STEP)) as u32;
        long_side = next.max(MIN_LONG_SIDE);
        // Always scale from the fitted image, so quality does not degrade step after step.
        scaled = Some(fitted.resize(long_side, long_side, FilterType::Triangle));
    }
}

fn encode_jpeg(image: &DynamicImage) -> Result<Vec<u8>, PictureError> {
    let mut jpeg = Vec::new();
    image
        .write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY))
        .map_err(PictureError::Encode)?;
    Ok(jpeg)
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use image::{Rgb, RgbImage, Rgba};

    const BUDGET: usize = 200 * 1024;

    /// A 2400×1500 (HiDPI) screenshot as PNG, made once: several tests start from it.
    static LARGE_PNG: LazyLock<Vec<u8>> =
        LazyLock::new(|| encoded(screenshot(2400, 1500).into(), ImageFormat::Png));

    /// Something like a screenshot: a gradient header bar, then a text column (glyphs from a
    /// tiny bitmap font) with a coloured button now and then, white margins around it.
    /// Deterministic (xorshift), so sizes are stable from run to run.
    fn screenshot(width: u32, height: u32) -> RgbImage {
        // 5×7 glyphs, one row of bits per byte (bit 4 is the left column).
        const FONT: [[u8; 7]; 6] = [
            [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
            [0x1e, 0x11, 0x1e, 0x11, 0x11, 0x11, 0x1e],
            [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
            [0x1f, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x1f],
            [0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
            [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        ];
        let mut state: u32 = 0x9e37_79b9;
        let mut next = move |below: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % below
        };
        let mut image = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        for y in 0..height.min(80) {
            for x in 0..width {
                let shade = u8::try_from(x * 200 / width).unwrap_or(0);
                image.put_pixel(x, y, Rgb([30, shade, 120]));
            }
        }
        let (left, right) = (width / 8, width - width / 4);
        let mut y = 110;
        while y + 16 < height {
            if next(8) == 0 {
                // A button instead of a line of text.
                let (x0, w) = (left + next(width / 3), 120 + next(100));
                for by in y..(y + 24).min(height) {
                    for x in x0..(x0 + w).min(width) {
                        image.put_pixel(x, by, Rgb([220, 60, 60]));
                    }
                }
                y += 34;
                continue;
            }
            let mut x = left;
            let line_end = right - next(width / 6);
            while x + 12 < line_end {
                for _ in 0..2 + next(8) {
                    let glyph = FONT[next(6) as usize];
                    for (row, bits) in (0u32..).zip(glyph) {
                        for col in 0..5 {
                            if bits & (0x10 >> col) != 0 {
                                // Two device pixels per font pixel, as on a HiDPI screen.
                                for (dx, dy) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                                    let (gx, gy) = (x + 2 * col + dx, y + 2 * row + dy);
                                    image.put_pixel(gx, gy, Rgb([35, 35, 35]));
                                }
                            }
                        }
                    }
                    x += 12;
                    if x + 12 >= line_end {
                        break;
                    }
                }
                x += 12;
            }
            y += if next(5) == 0 { 44 } else { 24 };
        }
        image
    }

    fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, format)
            .expect("test image encodes");
        bytes.into_inner()
    }

    /// The preview decoded back; also checks it is a JPEG of the reported dimensions.
    fn decoded(preview: &Preview) -> RgbImage {
        assert_eq!(preview.mime_type, "image/jpeg");
        assert!(!preview.base64.contains(['\n', '\r']));
        let jpeg = STANDARD.decode(&preview.base64).expect("standard base64");
        let reader = ImageReader::new(Cursor::new(&jpeg[..]))
            .with_guessed_format()
            .expect("in-memory read");
        assert_eq!(reader.format(), Some(ImageFormat::Jpeg));
        let image = reader.decode().expect("decodable JPEG").into_rgb8();
        assert_eq!(image.dimensions(), (preview.width, preview.height));
        image
    }

    /// A PNG made of an IHDR declaring `width`×`height` (8-bit RGB), an empty IDAT and IEND:
    /// enough for a decoder to read the header, with no pixel data at all.
    fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &byte in bytes {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xedb8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            let len = u32::try_from(data.len()).expect("small chunk");
            png.extend(len.to_be_bytes());
            let start = png.len();
            png.extend(kind);
            png.extend(data);
            let crc = crc32(&png[start..]);
            png.extend(crc.to_be_bytes());
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend(width.to_be_bytes());
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, adaptive filter, no interlace
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &[]);
        chunk(&mut png, b"IEND", &[]);
        png
    }

    #[test]
    fn a_large_screenshot_is_scaled_to_fit_and_the_budget() {
        let preview = preview(&LARGE_PNG, BUDGET).expect("preview");
        assert!(preview.base64.len() <= BUDGET, "{}", preview.base64.len());
        // A page of dense text needs more than 200 KiB at 1568 px, so it was shrunk further,
        // keeping its aspect ratio (to the rounding of one pixel).
        assert!(preview.width < MAX_LONG_SIDE, "{}", preview.width);
        let ratio = f64::from(preview.width) / f64::from(preview.height);
        assert!((ratio - 1.6).abs() < 0.01, "{ratio}");
        decoded(&preview);
    }

    #[test]
    fn a_small_budget_shrinks_the_preview_until_it_fits() {
        let full = preview(&LARGE_PNG, usize::MAX).expect("unconstrained preview");
        assert_eq!((full.width, full.height), (MAX_LONG_SIDE, 980));
        let budget = full.base64.len() / 3;
        let small = preview(&LARGE_PNG, budget).expect("shrunk preview");
        assert!(small.base64.len() <= budget);
        assert!(small.width < full.width && small.height < full.height);
        assert!(small.width.max(small.height) >= MIN_LONG_SIDE);
        // The aspect ratio survives shrinking (to the rounding of one pixel).
        let ratio = f64::from(small.width) / f64::from(small.height);
        assert!((ratio - 1.6).abs() < 0.01, "{ratio}");
        decoded(&small);
    }

    #[test]
    fn an_impossible_budget_is_an_error_that_names_the_limit() {
        let error = preview(&LARGE_PNG, 100).expect_err("no JPEG fits in 100 bytes");
        assert!(
            matches!(
                error,
                PictureError::DoesNotFit {
                    width: 256,
                    limit: 100,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("--max-image-kb"), "{error}");
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        // Left half fully transparent (its colour black), right half opaque red.
        let image = RgbaImage::from_fn(200, 100, |x, _| {
            if x < 100 {
                Rgba([0, 0, 0, 0])
            } else {
                Rgba([255, 0, 0, 255])
            }
        });
        let png = encoded(image.into(), ImageFormat::Png);
        let preview = preview(&png, BUDGET).expect("preview");
        assert_eq!((preview.width, preview.height), (200, 100));
        let back = decoded(&preview);
        let Rgb([r, g, b]) = *back.get_pixel(30, 50);
        assert!(
            r > 245 && g > 245 && b > 245,
            "transparent became {r},{g},{b}"
        );
        let Rgb([r, g, b]) = *back.get_pixel(170, 50);
        assert!(r > 230 && g < 25 && b < 25, "red became {r},{g},{b}");
    }

    #[test]
    fn webp_and_jpeg_inputs_are_previewed() {
        // Small images keep their size: previews never scale up.
        let webp = encoded(screenshot(800, 600).into(), ImageFormat::WebP);
        let preview_webp = preview(&webp, BUDGET).expect("WebP preview");
        assert_eq!((preview_webp.width, preview_webp.height), (800, 600));
        decoded(&preview_webp);

        // A long page: the long side is the width here.
        let jpeg = encoded(screenshot(3000, 300).into(), ImageFormat::Jpeg);
        let preview_jpeg = preview(&jpeg, BUDGET).expect("JPEG preview");
        assert_eq!(
            (preview_jpeg.width, preview_jpeg.height),
            (MAX_LONG_SIDE, 157)
        );
        decoded(&preview_jpeg);
    }

    #[test]
    fn absurd_declared_dimensions_are_refused_from_the_header() {
        // 100000² RGB would be 30 GB: the side limit refuses it before any pixel is decoded
        // (the file has no pixel data, so only the header can be the reason).
        let error = preview(&png_header_only(100_000, 100_000), BUDGET).expect_err("refused");
        assert!(matches!(error, PictureError::TooLarge { .. }), "{error:?}");
        assert!(
            error.to_string().contains("over 20000 px a side"),
            "{error}"
        );

        // Within the side limit but over 100 megapixels.
        let error = preview(&png_header_only(12_000, 9_000), BUDGET).expect_err("refused");
        assert!(matches!(error, PictureError::TooLarge { .. }), "{error:?}");
        assert!(error.to_string().contains("12000×9000 px"), "{error}");
    }

    #[test]
    fn garbage_and_damaged_images_are_errors() {
        let error = preview(b"<html>not an image</html>", BUDGET).expect_err("garbage");
        assert!(matches!(error, PictureError::NotAPicture), "{error:?}");
        assert!(matches!(
            preview(&[], BUDGET),
            Err(PictureError::NotAPicture)
        ));
        // Other formats the `image` crate knows are not previewed either.
        assert!(matches!(
            preview(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", BUDGET),
            Err(PictureError::NotAPicture)
        ));

        let png = encoded(screenshot(400, 300).into(), ImageFormat::Png);
        let error = preview(&png[..png.len() / 2], BUDGET).expect_err("truncated");
        assert!(matches!(error, PictureError::Decode(_)), "{error:?}");
        // A plausible header with no pixel data behind it.
        let error = preview(&png_header_only(400, 300), BUDGET).expect_err("no pixels");
        assert!(matches!(error, PictureError::Decode(_)), "{error:?}");
    }

    #[test]
    fn our_formats_are_pictures() {
        for mime in ["image/png", "image/jpeg", "image/webp"] {
            assert!(is_picture(mime), "{mime}");
        }
        for mime in [
            "image/gif",
            "image/svg+xml",
            "text/png",
            "application/pdf",
            "",
        ] {
            assert!(!is_picture(mime), "{mime}");
        }
    }
}
