//! `llmspell-kerneld install-kernelspec`: writes `<prefix>/share/jupyter/kernels/<name>/`
//! with kernel.json and the logos, so `jupyter kernelspec list` shows the kernel and Jupyter can
//! launch it (`argv` ends in `{connection_file}`, which Jupyter fills in).
//!
//! Files are written to a temp directory beside the target and renamed into place, so a failed
//! install leaves nothing half-written.

use std::path::{Path, PathBuf};

use llmspell_common::ExitCode;
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::InstallArgs;

const LOGO_32: &[u8] = include_bytes!("../assets/logo-32x32.png");
const LOGO_64: &[u8] = include_bytes!("../assets/logo-64x64.png");

pub fn run(args: &InstallArgs) -> Result<(), Failure> {
    if !valid_name(&args.name) {
        return Err(Failure::new(
            ExitCode::Usage,
            format!("invalid kernelspec name {:?}: use letters, digits, '.', '_', '-'", args.name),
        ));
    }
    let kernels = kernels_dir(args)?;
    let exe = std::env::current_exe().map_err(|e| {
        Failure::new(ExitCode::Software, format!("cannot find this program's path: {e}"))
    })?;
    let dir = install(&kernels, &args.name, &kernel_json(&exe))?;
    println!("{}", dir.display());
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// The kernels directory the flags choose (user by default, like `jupyter kernelspec install --user`).
fn kernels_dir(args: &InstallArgs) -> Result<PathBuf, Failure> {
    if let Some(prefix) = &args.prefix {
        return Ok(prefix.join("share/jupyter/kernels"));
    }
    if args.sys_prefix {
        let prefix = std::env::var_os("VIRTUAL_ENV")
            .or_else(|| std::env::var_os("CONDA_PREFIX"))
            .ok_or_else(|| {
            Failure::new(
                ExitCode::Usage,
                "--sys-prefix needs an active environment (VIRTUAL_ENV or CONDA_PREFIX)",
            )
        })?;
        return Ok(PathBuf::from(prefix).join("share/jupyter/kernels"));
    }
    if let Some(data) = std::env::var_os("JUPYTER_DATA_DIR") {
        return Ok(PathBuf::from(data).join("kernels"));
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .ok_or_else(|| {
            Failure::new(ExitCode::Config, "neither JUPYTER_DATA_DIR nor HOME is set")
        })?;
    Ok(data_home.join("jupyter/kernels"))
}

/// kernel.json (Jupyter "Kernel specs"): interrupts arrive as messages on control;
/// `metadata.debugger` turns on JupyterLab's visual debugger (it checks this, not kernel_info).
pub fn kernel_json(exe: &Path) -> Value {
    json!({
        "argv": [exe.display().to_string(), "start", "--connection-file", "{connection_file}"],
        "display_name": "Lua (llmspell)",
        "language": "lua",
        "interrupt_mode": "message",
        "env": {},
        "metadata": {"debugger": true},
    })
}

fn install(kernels: &Path, name: &str, spec: &Value) -> Result<PathBuf, Failure> {
    let target = kernels.join(name);
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        let code = llmspell_common::exit::for_io_error(&e, false);
        Failure::new(code, format!("cannot {what} {}: {e}", path.display()))
    };
    std::fs::create_dir_all(kernels).map_err(|e| fail("create", kernels, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(kernels)
        .map_err(|e| fail("create a temp dir in", kernels, e))?;
    let mut text = serde_json::to_string_pretty(spec).expect("JSON serializes");
    text.push('\n');
    for (file, bytes) in
        [("kernel.json", text.as_bytes()), ("logo-32x32.png", LOGO_32), ("logo-64x64.png", LOGO_64)]
    {
        let path = tmp.path().join(file);
        std::fs::write(&path, bytes).map_err(|e| fail("write", &path, e))?;
    }
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| fail("replace", &target, e))?;
    }
    let tmp_path = tmp.keep();
    std::fs::rename(&tmp_path, &target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp_path);
        fail("install", &target, e)
    })?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_kernel_json_and_logos_under_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let args = InstallArgs {
            user: false,
            sys_prefix: false,
            prefix: Some(dir.path().into()),
            name: "lua-x".into(),
        };
        let kernels = kernels_dir(&args).unwrap();
        let target = install(&kernels, &args.name, &kernel_json(Path::new("/bin/k"))).unwrap();
        assert_eq!(target, dir.path().join("share/jupyter/kernels/lua-x"));
        let spec: Value =
            serde_json::from_slice(&std::fs::read(target.join("kernel.json")).unwrap()).unwrap();
        assert_eq!(
            spec["argv"],
            json!(["/bin/k", "start", "--connection-file", "{connection_file}"])
        );
        assert_eq!(spec["interrupt_mode"], "message");
        assert!(target.join("logo-64x64.png").exists());
        // Reinstalling replaces, and leaves no temp directories behind.
        install(&kernels, &args.name, &kernel_json(Path::new("/bin/k2"))).unwrap();
        assert_eq!(std::fs::read_dir(&kernels).unwrap().count(), 1);
    }

    #[test]
    fn rejects_bad_names() {
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
        assert!(valid_name("llmspell-2.0_x"));
    }
}
