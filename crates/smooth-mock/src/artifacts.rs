//! The files inside a downloads archive: what the agent "downloaded" (`report.csv`,
//! `invoice.pdf`) and what its tools produced (`screenshot.png`, `page.pdf`). Deterministic,
//! and real enough for a client to open: the PDFs are valid and the PNG decodes.

/// `report.csv`: the file a `[mock:download]` agent "downloaded".
pub(crate) const REPORT_CSV: &str = "\
date,item,quantity,unit_price_eur
2026-01-05,Sencha (100 g),3,8.50
2026-01-12,Assam (250 g),1,12.90
2026-01-19,Darjeeling (100 g),2,14.20
2026-01-26,Rooibos (200 g),4,6.75
";

/// `invoice.pdf`: the other file a `[mock:download]` agent "downloaded".
pub(crate) fn invoice_pdf() -> Vec<u8> {
    pdf(&[
        "Invoice MOCK-2026-0042",
        "Smooth mock tea shop",
        "",
        "Sencha (100 g)        3 x  8.50 EUR",
        "Assam (250 g)         1 x 12.90 EUR",
        "Darjeeling (100 g)    2 x 14.20 EUR",
        "Rooibos (200 g)       4 x  6.75 EUR",
        "",
        "Total                    95.80 EUR",
    ])
}

/// `page.pdf`: what the `print_page` tool leaves.
pub(crate) fn page_pdf() -> Vec<u8> {
    pdf(&[
        "Example Domain",
        "",
        "This domain is for use in illustrative examples in documents.",
        "(printed by the Smooth mock's print_page tool)",
    ])
}

/// A one-page Letter PDF showing `lines` in Helvetica. Offsets in the cross-reference table
/// are measured while writing, so the file is valid whatever the text.
fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut text = String::from("BT\n/F1 14 Tf\n18 TL\n72 720 Td\n");
    for line in lines {
        text.push_str(&format!("({}) Tj T*\n", pdf_escape(line)));
    }
    text.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    // The binary comment line tells transfer tools the file is not text.
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    // Every entry is exactly 20 bytes, the space before `\n` included.
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        table.push_str(&format!("{offset:010} 00000 n \n"));
    }
    table.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.extend_from_slice(table.as_bytes());
    out
}

fn pdf_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
}

pub(crate) const SCREENSHOT_WIDTH: u32 = 2400;
pub(crate) const SCREENSHOT_HEIGHT: u32 = 1500;
const W: usize = SCREENSHOT_WIDTH as usize;
const H: usize = SCREENSHOT_HEIGHT as usize;

/// `screenshot.png`: a 2400×1500 RGB "web page" — a gradient background, a header bar,
/// cards, a striped table and a noisy "photo" — so it has the size and entropy of a real
/// screenshot (about a MB), not the few KB a flat image would compress to.
pub(crate) fn screenshot_png() -> Result<Vec<u8>, png::EncodingError> {
    let mut pixels = vec![0u8; W * H * 3];
    // Painted a row at a time with slice fills: the mock is built unoptimized in tests,
    // where a per-pixel function over 3.6 million pixels took most of a second.
    let red: Vec<u8> = (0..W).map(|x| shade(x, W)).collect();
    let blue: Vec<u8> = (0..W + H).map(|d| shade(d, W + H) / 2 + 100).collect();
    // A fixed-seed xorshift: the same image every time.
    let mut seed: u32 = 0x9E37_79B9;
    for (y, row) in pixels.chunks_exact_mut(W * 3).enumerate() {
        let green = shade(y, H);
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[red[x], green, blue[x + y]]);
        }
        paint_row(y, row, &mut || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        });
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SCREENSHOT_WIDTH, SCREENSHOT_HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

fn shade(v: usize, max: usize) -> u8 {
    (v * 255 / max) as u8
}

/// Paints row `y`'s page elements over the background.
fn paint_row(y: usize, row: &mut [u8], noise: &mut impl FnMut() -> u32) {
    // Header bar with a few "menu items".
    if y < 120 {
        fill(row, 0..W, [24, 32, 56]);
        if (40..80).contains(&y) {
            for item in 0..5 {
                let x = 1200 + item * 240;
                fill(row, x..x + 160, [230, 230, 240]);
            }
        }
        return;
    }
    if (200..900).contains(&y) {
        // A "photo": a gradient under strong per-pixel noise.
        for x in 160..760 {
            let n = noise().to_le_bytes();
            row[x * 3..x * 3 + 3].copy_from_slice(&[
                shade(x - 160, 600).wrapping_add(n[0] & 0x0F),
                shade(y - 200, 700).wrapping_add(n[1] & 0x0F),
                160u8.wrapping_add(n[2] & 0x0F),
            ]);
        }
        // Two rows of four cards, each a different flat colour.
        if (y - 200) % 360 < 320 {
            for card in 0..4 {
                let x = 900 + card * 340;
                let c = (card * 40 + (y - 200) / 360 * 60) as u8;
                fill(row, x..x + 300, [200 - c, 120 + c / 2, 90 + c / 3]);
            }
        }
    }
    // A striped "table" with a thin grid.
    if (980..1420).contains(&y) {
        let line = [120, 120, 130];
        let band = (y - 980) / 40;
        if (y - 980).is_multiple_of(40) {
            fill(row, 160..2240, line);
        } else {
            let stripe = if band.is_multiple_of(2) {
                [250, 250, 252]
            } else {
                [232, 236, 244]
            };
            fill(row, 160..2240, stripe);
            for x in (260..2240).step_by(260) {
                fill(row, x..x + 1, line);
            }
        }
    }
}

fn fill(row: &mut [u8], xs: std::ops::Range<usize>, rgb: [u8; 3]) {
    for px in row[xs.start * 3..xs.end * 3].chunks_exact_mut(3) {
        px.copy_from_slice(&rgb);
    }
}
