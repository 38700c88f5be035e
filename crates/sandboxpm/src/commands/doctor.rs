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
    Ok(0)
}
