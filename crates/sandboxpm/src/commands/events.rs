//! `warn` events (DESIGN.md, "Security model"): something weaker than the user may assume, such
//! as a tarball checked only against sha1 or a sandbox that had to degrade. Each is handled by
//! `policies.onWarn` before the weaker thing happens: `continue` says so and goes on, `abort`
//! stops, and `prompt` asks on a terminal (without one it stops, as `abort` does).

use std::io::{BufRead, Write};

use anyhow::bail;
use sandboxpm_config::PolicyAction;
use sandboxpm_scripts::is_interactive;

/// Handles one warn event. `Ok` means go on.
pub fn on_warn(action: PolicyAction, message: &str, quiet: bool) -> anyhow::Result<()> {
    match action {
        PolicyAction::Continue => {
            if !quiet {
                eprintln!("warning: {message}");
            }
            Ok(())
        }
        PolicyAction::Abort => bail!("{message}\n(policies.onWarn is `abort`)"),
        PolicyAction::Prompt if !is_interactive() => bail!(
            "{message}\n(policies.onWarn is `prompt` and there is no terminal to ask: set it to \
             `continue` in .sandboxpmrc to go on anyway)"
        ),
        PolicyAction::Prompt => {
            let stdin = std::io::stdin();
            if ask(&mut stdin.lock(), &mut std::io::stderr(), message)? {
                Ok(())
            } else {
                bail!("stopped: {message}")
            }
        }
    }
}

/// Asks whether to go on; only `y` or `yes` means yes.
fn ask(input: &mut dyn BufRead, output: &mut dyn Write, message: &str) -> anyhow::Result<bool> {
    write!(output, "warning: {message}\nContinue anyway? [y/N] ")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_yes_goes_on() {
        for (answer, expected) in [
            ("y\n", true),
            ("YES\n", true),
            ("\n", false),
            ("n\n", false),
        ] {
            let mut out = Vec::new();
            let go = ask(&mut answer.as_bytes(), &mut out, "weak").unwrap();
            assert_eq!(go, expected, "{answer:?}");
            assert!(String::from_utf8(out).unwrap().contains("weak"));
        }
        // End of input is no.
        assert!(!ask(&mut "".as_bytes(), &mut Vec::new(), "weak").unwrap());
    }

    #[test]
    fn abort_and_continue() {
        assert!(on_warn(PolicyAction::Continue, "weak", true).is_ok());
        let err = on_warn(PolicyAction::Abort, "weak", true).unwrap_err();
        assert!(err.to_string().contains("weak"));
    }
}
