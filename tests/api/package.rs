//! The Debian package: built from the test's own binary with
//! scripts/build-deb, installed with dpkg into a throwaway root, its unit
//! verified, then purged.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// An empty system: passwd and group files, and dpkg's database.
fn throwaway_root(root: &Path) {
    for d in [
        "etc",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
        "var/log",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for (file, text) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", "root:x:0:\n"),
        ("etc/shadow", "root:*:19000:0:99999:7:::\n"),
        ("etc/gshadow", "root:*::\n"),
        ("var/lib/dpkg/status", ""),
        ("var/lib/dpkg/available", ""),
    ] {
        std::fs::write(root.join(file), text).unwrap();
    }
}

fn dpkg(root: &Path) -> Command {
    let mut c = Command::new("dpkg");
    // Maintainer scripts run outside a chroot with DPKG_ROOT set, as for an
    // image build; they honour it.
    c.arg(format!("--root={}", root.display()))
        .args(["--force-script-chrootless", "--force-depends"])
        .env("LEADGATE__LOGGING__LEVEL", "warn");
    c
}

#[test]
fn the_debian_package_installs_verifies_and_purges() {
    if Command::new("dpkg-deb").arg("--version").output().is_err() {
        panic!("dpkg-deb is missing: scripts/test-deps installs it");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let built = run(
        Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-deb"))
            .args([
                "--binary",
                env!("CARGO_BIN_EXE_leadgate"),
                "--fast",
                "--out",
            ])
            .arg(&out),
    );
    let deb = PathBuf::from(built.lines().last().unwrap().trim());
    assert!(deb
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("leadgate_"));

    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in [
        "./usr/bin/leadgate",
        "./usr/lib/systemd/system/leadgate.service",
        "./etc/leadgate/leadgate.toml",
        "./usr/share/doc/leadgate/leadgate.toml.example",
    ] {
        assert!(contents.contains(path), "{path} missing:\n{contents}");
    }
    let conffiles = run(Command::new("dpkg-deb")
        .args(["--info"])
        .arg(&deb)
        .arg("conffiles"));
    assert_eq!(conffiles.trim(), "/etc/leadgate/leadgate.toml");

    let root = dir.path().join("root");
    throwaway_root(&root);
    run(dpkg(&root).arg("-i").arg(&deb));

    // postinst: the system user, its state directory, and a configuration
    // of the machine's own that check-config accepts.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|l| l.starts_with("leadgate:"))
        .unwrap_or_else(|| panic!("no leadgate user:\n{passwd}"));
    assert!(
        user.ends_with(":/var/lib/leadgate:/usr/sbin/nologin"),
        "{user}"
    );
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let state = std::fs::metadata(root.join("var/lib/leadgate")).unwrap();
    assert_eq!(state.uid(), uid);
    assert!(root.join("usr/bin/leadgate").is_file());
    let conf = root.join("etc/leadgate/leadgate.toml");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("written by `leadgate init`"), "{text}");
    assert!(!text.contains("change-me") && !text.contains("demo"));
    let token = std::fs::metadata(root.join("etc/leadgate/api-admin.token")).unwrap();
    assert_eq!(token.permissions().mode() & 0o777, 0o600);
    assert_eq!(token.uid(), uid, "the daemon reads its token");
    let admin_pw = std::fs::metadata(root.join("etc/leadgate/admin.password")).unwrap();
    assert_eq!(
        (admin_pw.uid(), admin_pw.permissions().mode() & 0o777),
        (0, 0o600)
    );
    run(Command::new(root.join("usr/bin/leadgate"))
        .arg("--config")
        .arg(&conf)
        .arg("check-config"));

    // The packaged unit, with the installed binary where it will be.
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/leadgate.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/leadgate run"), "{unit}");
    let check = dir.path().join("unit").join("leadgate.service");
    std::fs::create_dir_all(check.parent().unwrap()).unwrap();
    let binary = root.join("usr/bin/leadgate");
    std::fs::write(
        &check,
        unit.replace("/usr/bin/leadgate", &binary.display().to_string()),
    )
    .unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&check)
        .output()
        .expect("systemd-analyze (scripts/test-deps installs systemd)");
    let said = String::from_utf8_lossy(&verify.stderr).to_string()
        + &String::from_utf8_lossy(&verify.stdout);
    let problems: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("leadgate.service"))
        // The host has no leadgate user, and maybe no postgresql unit.
        .filter(|l| {
            !l.contains("User")
                && !l.contains("postgresql.service")
                && !l.contains("network-online")
        })
        .collect();
    assert!(problems.is_empty(), "{said}");

    // An upgrade (the same version again) keeps the configuration.
    run(dpkg(&root).arg("-i").arg(&deb));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), text);

    // Purge: configuration, secrets, state and user go.
    run(dpkg(&root).args(["--purge", "leadgate"]));
    assert!(!root.join("usr/bin/leadgate").exists());
    assert!(!root.join("var/lib/leadgate").exists());
    assert!(!root.join("etc/leadgate").exists());
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(!passwd.contains("leadgate"), "{passwd}");
}
