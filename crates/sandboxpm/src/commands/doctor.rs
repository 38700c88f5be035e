//! `sandboxpm doctor`: what this machine can enforce.

use sandboxpm_sandbox::{Backend, doctor};

pub fn doctor(json: bool) -> anyhow::Result<u8> {
    let report = doctor::report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("kernel:            {}", report.kernel);
    match &report.user_namespaces {
        Ok(()) => println!("user namespaces:   yes"),
        Err(why) => println!("user namespaces:   no ({why})"),
    }
    for (key, value) in &report.userns_settings {
        println!("  {key} = {value}");
    }
    match report.landlock_abi {
        0 => println!("landlock:          no"),
        abi => println!(
            "landlock:          ABI {abi}{}",
            if abi >= 6 {
                " (with signal and abstract-socket scopes)"
            } else {
                ""
            }
        ),
    }
    println!("seccomp:           {}", yes_no(report.seccomp));
    match &report.bwrap {
        Some(p) => println!("bubblewrap:        {}", p.display()),
        None => println!("bubblewrap:        not installed"),
    }
    match &report.docker {
        Some((socket, alive)) => println!(
            "docker:            {} ({})",
            socket.display(),
            if *alive {
                "daemon answering"
            } else {
                "no daemon answering"
            }
        ),
        None => println!("docker:            no socket"),
    }
    println!();
    if report.auto == Backend::Auto {
        println!("backend `auto`:    NONE: {}", report.auto_reason);
        println!("sandboxed commands will not run on this machine.");
        return Ok(1);
    }
    println!(
        "backend `auto`:    {} ({})",
        report.auto.name(),
        report.auto_reason
    );
    println!("enforces:");
    for line in &report.enforces {
        println!("  + {line}");
    }
    println!("does not enforce:");
    for line in &report.does_not_enforce {
        println!("  - {line}");
    }

    // Every other backend, for `--backend` or `.sandboxpmrc` `sandbox.backend`.
    let usable = |backend: Backend| -> Result<(), &'static str> {
        match backend {
            Backend::Native if report.user_namespaces.is_err() => Err("no user namespaces"),
            Backend::Landlock if report.landlock_abi == 0 => Err("no Landlock"),
            Backend::Bwrap if report.bwrap.is_none() => Err("bubblewrap is not installed"),
            Backend::Bwrap if report.user_namespaces.is_err() => {
                Err("needs user namespaces unless bubblewrap is setuid")
            }
            Backend::Docker if !report.docker.as_ref().is_some_and(|(_, alive)| *alive) => {
                Err("no Docker daemon answering")
            }
            Backend::Seatbelt if !cfg!(target_os = "macos") => Err("macOS only"),
            _ => Ok(()),
        }
    };
    for backend in [
        Backend::Native,
        Backend::Landlock,
        Backend::Bwrap,
        Backend::Docker,
        Backend::Seatbelt,
    ] {
        if backend == report.auto {
            continue;
        }
        println!();
        match usable(backend) {
            Ok(()) => println!("backend `{}`: usable here", backend.name()),
            Err(why) => println!("backend `{}`: not usable here ({why})", backend.name()),
        }
        let (_, gaps) = doctor::guarantees(backend, report.landlock_abi);
        for line in gaps {
            println!("  - {line}");
        }
    }
    Ok(0)
}
