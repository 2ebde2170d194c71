//! One lifecycle phase's hooks (config.md "POSIX-platform Hooks"), with the state on stdin.
use husk_oci::State;
use husk_spawn::hooks::HookError;
use oci_spec::runtime::Hook;

/// Runs `hooks` in order through husk-spawn, stopping at the first failure; serializes the state
/// only when there is a hook to read it.
pub fn run_all(phase: &'static str, hooks: &[Hook], state: &State) -> Result<(), HookError> {
    if hooks.is_empty() {
        return Ok(());
    }
    husk_spawn::hooks::run_all(phase, hooks, &state.to_json())
}
