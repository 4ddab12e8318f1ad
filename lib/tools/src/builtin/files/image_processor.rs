//! image_processor: metadata, resize, thumbnail, convert, crop, rotate, flip, grayscale and
//! create, for PNG, JPEG, GIF and BMP (pure-Rust codecs of the `image` crate).
//!
//! Inputs are capped at 64 MiB and 50 megapixels before decoding; decoding and resizing run to
//! completion (the deadline is checked between steps), which those caps keep short.

use std::io::{BufWriter, Write};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Rgba, RgbaImage};
use serde_json::{Value, json};

use super::{
    MAX_READ, example_path, refuse_existing, regular_file, requires, shown, write_replacing,
};
use crate::{Context, ErrorType, Example, Params, ToolDef, ToolError, io_error};

/// The largest image (in pixels) decoded or produced.
const MAX_PIXELS: u64 = 50_000_000;
/// The largest width or height.
const MAX_SIDE: u32 = 20_000;

const TRANSFORMS: [&str; 8] =
    ["resize", "thumbnail", "convert", "crop", "rotate", "flip", "grayscale", "metadata"];

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "image_processor",
        category: "media",
        description: "Reads image metadata (format, size, color type) and resizes, makes \
                      thumbnails of, converts, crops, rotates, flips or grayscales PNG, JPEG, \
                      GIF and BMP images, or creates a solid-color image, writing the result to \
                      a file.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["metadata", "resize", "thumbnail", "convert", "crop", "rotate",
                             "flip", "grayscale", "create"],
                    "description": "metadata: format, width, height, color type; resize: to \
                                    width and / or height; thumbnail: fit in max_dimension; \
                                    convert: to another format; crop: the x, y, width, height \
                                    rectangle; rotate: by angle; flip: horizontal or vertical; \
                                    grayscale; create: a width x height image of one color"
                },
                "path": {"type": "string", "description": "The input image"},
                "output": {"type": "string", "description": "Where to write the result"},
                "format": {
                    "type": "string",
                    "enum": ["png", "jpeg", "gif", "bmp"],
                    "description": "Output format (default: from the output's extension)"
                },
                "width": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SIDE,
                    "description": "resize / crop / create: width in pixels"
                },
                "height": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SIDE,
                    "description": "resize / crop / create: height in pixels"
                },
                "keep_aspect": {
                    "type": "boolean",
                    "description": "resize: keep the aspect ratio, fitting inside width x height \
                                    (default true); false stretches to exactly width x height"
                },
                "filter": {
                    "type": "string",
                    "enum": ["nearest", "triangle", "catmull_rom", "gaussian", "lanczos3"],
                    "description": "resize: the resampling filter (default lanczos3)"
                },
                "max_dimension": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SIDE,
                    "description": "thumbnail: the longest side (default 256); smaller images \
                                    are kept as they are"
                },
                "x": {"type": "integer", "minimum": 0, "description": "crop: left edge"},
                "y": {"type": "integer", "minimum": 0, "description": "crop: top edge"},
                "angle": {
                    "type": "integer",
                    "enum": [90, 180, 270],
                    "description": "rotate: degrees clockwise"
                },
                "direction": {
                    "type": "string",
                    "enum": ["horizontal", "vertical"],
                    "description": "flip: mirror left-right (horizontal) or top-bottom"
                },
                "color": {
                    "type": "string",
                    "pattern": "^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$",
                    "description": "create: #rrggbb or #rrggbbaa (default #ffffff)"
                },
                "quality": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "description": "JPEG output quality (default 85)"
                },
                "overwrite": {
                    "type": "boolean",
                    "description": "Replace an existing output file (default false)"
                }
            },
            "required": ["operation"],
            "allOf": [
                requires(&TRANSFORMS, &["path"]),
                requires(&TRANSFORMS[..7], &["output"]),
                requires(&["create"], &["output", "width", "height"]),
                requires(&["crop"], &["x", "y", "width", "height"]),
                requires(&["rotate"], &["angle"]),
                requires(&["flip"], &["direction"])
            ],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "create a 64 x 32 red PNG",
                json!({"operation": "create", "width": 64, "height": 32, "color": "#ff0000",
                       "output": example_path("llmspell-example-image_processor/red.png"),
                       "overwrite": true}),
                json!({"format": "png", "width": 64, "height": 32}),
            ),
            Example::new(
                "create a small GIF",
                json!({"operation": "create", "width": 8, "height": 8,
                       "output": example_path("llmspell-example-image_processor/white.gif"),
                       "overwrite": true}),
                json!({"format": "gif", "width": 8, "height": 8}),
            ),
            Example::fails(
                "metadata of a file that does not exist",
                json!({"operation": "metadata",
                       "path": example_path("llmspell-example-image_processor/missing.png")}),
                ErrorType::NotFound,
            ),
            Example::fails(
                "resize without an output",
                json!({"operation": "resize", "path": "in.png", "width": 10}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn image_error(e: ImageError, path: &Path) -> ToolError {
    match e {
        ImageError::IoError(e) => io_error(e, Some(path)),
        ImageError::Unsupported(e) => {
            ToolError::validation(format!("{}: unsupported image: {e}", path.display()))
        }
        ImageError::Limits(e) => {
            ToolError::validation(format!("{}: the image is too large: {e}", path.display()))
        }
        e => ToolError::execution(format!("{}: {e}", path.display())),
    }
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Gif => "gif",
        ImageFormat::Bmp => "bmp",
        _ => "other",
    }
}

fn reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, ToolError> {
    let meta = regular_file(path, "path")?;
    if meta.len() > MAX_READ {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is {} bytes, more than the 64 MiB limit",
            path.display(),
            meta.len()
        )));
    }
    let reader = ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|e| io_error(e, Some(path)))?;
    if reader.format().is_none_or(|f| format_name(f) == "other") {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is not a PNG, JPEG, GIF or BMP image",
            path.display()
        )));
    }
    Ok(reader)
}

fn too_big(width: u64, height: u64, what: &str) -> Result<(), ToolError> {
    if width * height > MAX_PIXELS || width > MAX_SIDE.into() || height > MAX_SIDE.into() {
        return Err(ToolError::validation(format!(
            "{what} would be {width} x {height} pixels, more than the limit of {MAX_PIXELS} \
             pixels and {MAX_SIDE} per side"
        )));
    }
    Ok(())
}

/// Decodes the input after checking its size from the header.
fn load(cx: &Context, p: &Params) -> Result<(DynamicImage, ImageFormat), ToolError> {
    let path = cx.path(p.str("path")?)?;
    let (w, h) = reader(&path)?.into_dimensions().map_err(|e| image_error(e, &path))?;
    too_big(w.into(), h.into(), "the input")?;
    cx.check()?;
    let mut reader = reader(&path)?;
    let format = reader.format().unwrap_or(ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 16);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| image_error(e, &path))?;
    cx.check()?;
    Ok((image, format))
}

fn metadata(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    let reader = reader(&path)?;
    let format = reader.format().map_or("other", format_name);
    let decoder = reader.into_decoder().map_err(|e| image_error(e, &path))?;
    let (width, height) = decoder.dimensions();
    let color = decoder.color_type();
    let size = std::fs::metadata(&path).map_err(|e| io_error(e, Some(&path)))?.len();
    Ok(json!({
        "path": shown(&path),
        "format": format,
        "width": width,
        "height": height,
        "color_type": format!("{color:?}"),
        "bits_per_pixel": color.bits_per_pixel(),
        "has_alpha": color.has_alpha(),
        "file_size": size,
    }))
}

/// The output format from the parameter or the output's extension.
fn out_format(p: &Params, output: &Path) -> Result<ImageFormat, ToolError> {
    let name = match p.opt_str("format")? {
        Some(f) => f.to_owned(),
        None => output.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default(),
    };
    match name.as_str() {
        "png" => Ok(ImageFormat::Png),
        "jpeg" | "jpg" => Ok(ImageFormat::Jpeg),
        "gif" => Ok(ImageFormat::Gif),
        "bmp" => Ok(ImageFormat::Bmp),
        _ => Err(ToolError::validation(format!(
            "parameter \"format\": cannot tell the output format of {}; give format png, jpeg, \
             gif or bmp",
            output.display()
        ))),
    }
}

fn save(p: &Params, cx: &Context, image: &DynamicImage) -> Result<Value, ToolError> {
    let output = cx.path(p.str("output")?)?;
    let format = out_format(p, &output)?;
    refuse_existing(&output, p.bool_or("overwrite", false)?)?;
    cx.check()?;
    let quality = p.u64_or("quality", 85)?.clamp(1, 100) as u8;
    let size = write_replacing(&output, |file| {
        let mut w = BufWriter::new(file);
        let written = match format {
            // JPEG has no alpha channel.
            ImageFormat::Jpeg => {
                JpegEncoder::new_with_quality(&mut w, quality).encode_image(&image.to_rgb8())
            }
            ImageFormat::Bmp | ImageFormat::Gif => {
                DynamicImage::ImageRgba8(image.to_rgba8()).write_to(&mut w, format)
            }
            _ => image.write_to(&mut w, format),
        };
        written.map_err(|e| image_error(e, &output))?;
        w.flush().map_err(|e| io_error(e, Some(&output)))
    })?;
    Ok(json!({
        "output": shown(&output),
        "format": format_name(format),
        "width": image.width(),
        "height": image.height(),
        "size": size,
    }))
}

fn filter(p: &Params) -> Result<FilterType, ToolError> {
    Ok(match p.str_or("filter", "lanczos3")? {
        "nearest" => FilterType::Nearest,
        "triangle" => FilterType::Triangle,
        "catmull_rom" => FilterType::CatmullRom,
        "gaussian" => FilterType::Gaussian,
        _ => FilterType::Lanczos3,
    })
}

fn resize(p: &Params, image: &DynamicImage) -> Result<DynamicImage, ToolError> {
    let (w, h) = (u64::from(image.width()), u64::from(image.height()));
    let (width, height) = (p.opt_u64("width")?, p.opt_u64("height")?);
    let keep = p.bool_or("keep_aspect", true)?;
    let (nw, nh) = match (width, height) {
        (None, None) => {
            return Err(ToolError::validation("resize needs parameter \"width\" or \"height\""));
        }
        (Some(nw), Some(nh)) if keep => {
            // Fit inside nw x nh.
            if nw * h <= nh * w {
                (nw, (h * nw).div_ceil(w).max(1))
            } else {
                ((w * nh).div_ceil(h).max(1), nh)
            }
        }
        (Some(nw), Some(nh)) => (nw, nh),
        (Some(nw), None) if keep => (nw, (h * nw / w).max(1)),
        (None, Some(nh)) if keep => ((w * nh / h).max(1), nh),
        _ => {
            return Err(ToolError::validation(
                "keep_aspect false needs both parameters \"width\" and \"height\"",
            ));
        }
    };
    too_big(nw, nh, "the result")?;
    Ok(image.resize_exact(nw as u32, nh as u32, filter(p)?))
}

fn crop(p: &Params, image: &DynamicImage) -> Result<DynamicImage, ToolError> {
    let x = p.u64_or("x", 0)?;
    let y = p.u64_or("y", 0)?;
    let width = p.u64_or("width", 1)?;
    let height = p.u64_or("height", 1)?;
    if x + width > image.width().into() || y + height > image.height().into() {
        return Err(ToolError::validation(format!(
            "parameters \"x\", \"y\", \"width\", \"height\": the rectangle {width} x {height} at \
             ({x}, {y}) is not inside the {} x {} image",
            image.width(),
            image.height()
        )));
    }
    Ok(image.crop_imm(x as u32, y as u32, width as u32, height as u32))
}

fn create(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let width = p.u64_or("width", 1)?;
    let height = p.u64_or("height", 1)?;
    too_big(width, height, "the image")?;
    let hex = p.str_or("color", "#ffffff")?.trim_start_matches('#');
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("ff"), 16).unwrap_or(255);
    let alpha = if hex.len() == 8 { byte(6) } else { 255 };
    let pixel = Rgba([byte(0), byte(2), byte(4), alpha]);
    let image = RgbaImage::from_pixel(width as u32, height as u32, pixel);
    save(p, cx, &DynamicImage::ImageRgba8(image))
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let operation = p.str("operation")?;
    match operation {
        "metadata" => return metadata(p, cx),
        "create" => return create(p, cx),
        _ => {}
    }
    let (image, format) = load(cx, p)?;
    let (from_w, from_h) = (image.width(), image.height());
    let result = match operation {
        "resize" => resize(p, &image)?,
        "thumbnail" => {
            let max = p.u64_or("max_dimension", 256)? as u32;
            if image.width() <= max && image.height() <= max {
                image
            } else {
                image.thumbnail(max, max)
            }
        }
        "convert" => image,
        "crop" => crop(p, &image)?,
        "rotate" => match p.opt_u64("angle")? {
            Some(90) => image.rotate90(),
            Some(180) => image.rotate180(),
            _ => image.rotate270(),
        },
        "flip" => match p.str("direction")? {
            "vertical" => image.flipv(),
            _ => image.fliph(),
        },
        "grayscale" => image.grayscale(),
        other => return Err(ToolError::validation(format!("unknown operation {other:?}"))),
    };
    cx.check()?;
    let mut out = save(p, cx, &result)?;
    out["input"] = json!({"format": format_name(format), "width": from_w, "height": from_h});
    Ok(out)
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, GenericImageView, ImageFormat, Rgba, RgbaImage};
    use serde_json::json;

    use super::super::testing::{Fx, exists};
    use crate::ErrorType;

    const T: &str = "image_processor";

    /// A 40 x 20 image: left half red, right half blue, top-left pixel green.
    fn picture(fx: &Fx, name: &str, format: ImageFormat) -> String {
        let mut img = RgbaImage::from_fn(40, 20, |x, _| {
            if x < 20 { Rgba([255, 0, 0, 255]) } else { Rgba([0, 0, 255, 255]) }
        });
        img.put_pixel(0, 0, Rgba([0, 255, 0, 255]));
        DynamicImage::ImageRgba8(img).save_with_format(fx.root.join(name), format).unwrap();
        fx.p(name)
    }

    fn open(fx: &Fx, name: &str) -> DynamicImage {
        image::open(fx.root.join(name)).unwrap()
    }

    #[test]
    fn metadata_of_every_format() {
        let fx = Fx::new();
        for (name, format, fmt) in [
            ("a.png", ImageFormat::Png, "png"),
            ("a.jpg", ImageFormat::Jpeg, "jpeg"),
            ("a.gif", ImageFormat::Gif, "gif"),
            ("a.bmp", ImageFormat::Bmp, "bmp"),
        ] {
            let img = if format == ImageFormat::Jpeg {
                DynamicImage::ImageRgb8(image::RgbImage::new(40, 20))
            } else {
                DynamicImage::ImageRgba8(RgbaImage::new(40, 20))
            };
            img.save_with_format(fx.root.join(name), format).unwrap();
            let out = fx.ok(T, json!({"operation": "metadata", "path": fx.p(name)}));
            assert_eq!(out["format"], fmt, "{out}");
            assert_eq!(out["width"], 40);
            assert_eq!(out["height"], 20);
            assert!(out["color_type"].is_string());
            assert!(out["file_size"].as_u64().unwrap() > 0);
        }
        let out = fx.ok(T, json!({"operation": "metadata", "path": fx.p("a.png")}));
        assert_eq!(out["color_type"], "Rgba8");
        assert_eq!(out["has_alpha"], true);
    }

    #[test]
    fn resize_keeps_the_aspect_or_stretches() {
        let fx = Fx::new();
        let src = picture(&fx, "p.png", ImageFormat::Png);
        let out = fx.ok(
            T,
            json!({"operation": "resize", "path": src, "width": 20,
                                  "output": fx.p("half.png")}),
        );
        assert_eq!((out["width"].clone(), out["height"].clone()), (json!(20), json!(10)));
        assert_eq!(out["input"], json!({"format": "png", "width": 40, "height": 20}));
        assert_eq!(open(&fx, "half.png").dimensions(), (20, 10));
        fx.ok(
            T,
            json!({"operation": "resize", "path": src, "width": 100, "height": 10,
                        "output": fx.p("fit.png"), "filter": "nearest"}),
        );
        assert_eq!(open(&fx, "fit.png").dimensions(), (20, 10));
        fx.ok(
            T,
            json!({"operation": "resize", "path": src, "height": 40,
                        "output": fx.p("tall.png"), "filter": "triangle"}),
        );
        assert_eq!(open(&fx, "tall.png").dimensions(), (80, 40));
        fx.ok(
            T,
            json!({"operation": "resize", "path": src, "width": 10, "height": 30,
                        "keep_aspect": false, "output": fx.p("exact.bmp")}),
        );
        let exact = open(&fx, "exact.bmp");
        assert_eq!(exact.dimensions(), (10, 30));
        fx.err(
            T,
            json!({"operation": "resize", "path": src, "width": 10, "keep_aspect": false,
                         "output": fx.p("x.png")}),
            ErrorType::Validation,
        );
        fx.err(
            T,
            json!({"operation": "resize", "path": src, "output": fx.p("x.png")}),
            ErrorType::Validation,
        );
        let e = fx.err(
            T,
            json!({"operation": "resize", "path": src, "width": 20000,
                                 "height": 20000, "keep_aspect": false,
                                 "output": fx.p("huge.png")}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("limit"), "{e}");
        // Outputs are not replaced unless asked.
        fx.err(
            T,
            json!({"operation": "resize", "path": src, "width": 5,
                         "output": fx.p("half.png")}),
            ErrorType::Execution,
        );
        fx.ok(
            T,
            json!({"operation": "resize", "path": src, "width": 5,
                        "output": fx.p("half.png"), "overwrite": true}),
        );
        assert_eq!(open(&fx, "half.png").dimensions(), (5, 2));
    }

    #[test]
    fn thumbnail_convert_crop_rotate_flip_grayscale() {
        let fx = Fx::new();
        let src = picture(&fx, "p.png", ImageFormat::Png);
        fx.ok(
            T,
            json!({"operation": "thumbnail", "path": src, "max_dimension": 10,
                        "output": fx.p("t.png")}),
        );
        assert_eq!(open(&fx, "t.png").dimensions(), (10, 5));
        fx.ok(T, json!({"operation": "thumbnail", "path": src, "output": fx.p("same.png")}));
        assert_eq!(open(&fx, "same.png").dimensions(), (40, 20));
        for (name, format) in [("c.jpg", "jpeg"), ("c.gif", "gif"), ("c.bmp", "bmp")] {
            let out = fx.ok(
                T,
                json!({"operation": "convert", "path": src,
                                      "output": fx.p(name)}),
            );
            assert_eq!(out["format"], format);
            let back = fx.ok(T, json!({"operation": "metadata", "path": fx.p(name)}));
            assert_eq!(back["format"], format);
        }
        let out = fx.ok(
            T,
            json!({"operation": "convert", "path": src, "format": "jpeg",
                                  "quality": 30, "output": fx.p("noext")}),
        );
        assert_eq!(out["format"], "jpeg");
        fx.err(
            T,
            json!({"operation": "convert", "path": src, "output": fx.p("x.tiff")}),
            ErrorType::Validation,
        );
        fx.ok(
            T,
            json!({"operation": "crop", "path": src, "x": 18, "y": 0, "width": 4,
                        "height": 3, "output": fx.p("crop.png")}),
        );
        let c = open(&fx, "crop.png");
        assert_eq!(c.dimensions(), (4, 3));
        assert_eq!(c.get_pixel(0, 1), Rgba([255, 0, 0, 255]));
        assert_eq!(c.get_pixel(3, 1), Rgba([0, 0, 255, 255]));
        fx.err(
            T,
            json!({"operation": "crop", "path": src, "x": 38, "y": 0, "width": 4,
                         "height": 3, "output": fx.p("bad.png")}),
            ErrorType::Validation,
        );
        fx.ok(
            T,
            json!({"operation": "rotate", "path": src, "angle": 90,
                        "output": fx.p("r.png")}),
        );
        let r = open(&fx, "r.png");
        assert_eq!(r.dimensions(), (20, 40));
        assert_eq!(r.get_pixel(19, 0), Rgba([0, 255, 0, 255]), "green moves to the top right");
        fx.ok(
            T,
            json!({"operation": "rotate", "path": src, "angle": 180,
                        "output": fx.p("r180.png")}),
        );
        assert_eq!(open(&fx, "r180.png").get_pixel(39, 19), Rgba([0, 255, 0, 255]));
        fx.err(
            T,
            json!({"operation": "rotate", "path": src, "angle": 45,
                         "output": fx.p("r45.png")}),
            ErrorType::Validation,
        );
        fx.ok(
            T,
            json!({"operation": "flip", "path": src, "direction": "horizontal",
                        "output": fx.p("f.png")}),
        );
        assert_eq!(open(&fx, "f.png").get_pixel(39, 0), Rgba([0, 255, 0, 255]));
        fx.ok(
            T,
            json!({"operation": "flip", "path": src, "direction": "vertical",
                        "output": fx.p("fv.png")}),
        );
        assert_eq!(open(&fx, "fv.png").get_pixel(0, 19), Rgba([0, 255, 0, 255]));
        fx.ok(T, json!({"operation": "grayscale", "path": src, "output": fx.p("g.png")}));
        let g = open(&fx, "g.png");
        assert!(
            matches!(g.color(), image::ColorType::La8 | image::ColorType::L8),
            "{:?}",
            g.color()
        );
    }

    #[test]
    fn create_and_failures() {
        let fx = Fx::new();
        let out = fx.ok(
            T,
            json!({"operation": "create", "width": 3, "height": 2,
                                  "color": "#10203080", "output": fx.p("new/c.png")}),
        );
        assert_eq!(out["size"].as_u64().map(|s| s > 0), Some(true));
        let c = open(&fx, "new/c.png");
        assert_eq!(c.get_pixel(2, 1), Rgba([0x10, 0x20, 0x30, 0x80]));
        fx.err(
            T,
            json!({"operation": "create", "width": 3, "height": 2, "color": "red",
                         "output": fx.p("x.png")}),
            ErrorType::Validation,
        );
        fx.err(
            T,
            json!({"operation": "create", "width": 0, "height": 2,
                         "output": fx.p("x.png")}),
            ErrorType::Validation,
        );
        fx.err(
            T,
            json!({"operation": "create", "width": 3, "output": fx.p("x.png")}),
            ErrorType::Validation,
        );
        fx.err(T, json!({"operation": "metadata", "path": fx.p("nope.png")}), ErrorType::NotFound);
        std::fs::write(fx.root.join("text.txt"), "not an image").unwrap();
        let e = fx.err(
            T,
            json!({"operation": "metadata", "path": fx.p("text.txt")}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("not a PNG, JPEG, GIF or BMP"), "{e}");
        std::fs::write(fx.root.join("text.png"), "not an image").unwrap();
        let e = fx.err(
            T,
            json!({"operation": "metadata", "path": fx.p("text.png")}),
            ErrorType::Execution,
        );
        assert!(e.message.contains("signature"), "{e}");
        // A PNG header claiming more pixels than the cap is refused before decoding.
        let huge = fx.root.join("huge.png");
        std::fs::write(&huge, png_header(30_000, 30_000)).unwrap();
        let e = fx.err(
            T,
            json!({"operation": "convert", "path": fx.p("huge.png"),
                                 "output": fx.p("h.bmp")}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("limit"), "{e}");
        // A truncated image is an execution error.
        picture(&fx, "p.png", ImageFormat::Png);
        let bytes = std::fs::read(fx.root.join("p.png")).unwrap();
        std::fs::write(fx.root.join("cut.png"), &bytes[..bytes.len() / 2]).unwrap();
        fx.err(
            T,
            json!({"operation": "convert", "path": fx.p("cut.png"),
                         "output": fx.p("cut.bmp")}),
            ErrorType::Execution,
        );
        assert!(!exists(&fx.root.join("cut.bmp")));
    }

    /// A PNG that claims the given size but holds no pixel data.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", &[]), (b"IEND", &[])] {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut chunk = kind.to_vec();
            chunk.extend_from_slice(data);
            out.extend_from_slice(&chunk);
            out.extend_from_slice(&crc32(&chunk).to_be_bytes());
        }
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn paths_out_of_the_root_are_refused() {
        let fx = Fx::new();
        let src = picture(&fx, "p.png", ImageFormat::Png);
        DynamicImage::ImageRgba8(RgbaImage::new(2, 2))
            .save_with_format(fx.outside.join("o.png"), ImageFormat::Png)
            .unwrap();
        for params in [
            json!({"operation": "metadata", "path": fx.p("out_dir/o.png")}),
            json!({"operation": "metadata", "path": fx.p("../outside/o.png")}),
            json!({"operation": "convert", "path": src, "output": fx.p("out_dir/x.png")}),
            json!({"operation": "convert", "path": src, "output": fx.p("out_file"),
                   "format": "png", "overwrite": true}),
            json!({"operation": "create", "width": 1, "height": 1,
                   "output": fx.outside.join("x.png").to_string_lossy()}),
        ] {
            fx.err(T, params, ErrorType::Permission);
        }
        std::fs::remove_file(fx.outside.join("o.png")).unwrap();
        fx.outside_untouched();
    }
}
