//! Environment builders for gateway processes.

use zoho_sim::SimHandle;

/// A gateway's environment, built variable by variable. [`Env::with`] replaces a variable that
/// is already set, so a caller states only what differs from its base (usually [`Env::zoho`]).
/// Derefs to the `&[(name, value)]` that [`crate::Gateway::start`] and [`crate::run`] take.
#[derive(Debug, Clone, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    /// The six variables pointing a gateway at `sim`, with its seeded credentials.
    pub fn zoho(sim: &SimHandle) -> Env {
        let env = sim.client_env();
        Env(env.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
    }

    /// Sets `name` to `value`, replacing an earlier value of `name`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Env {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
        self
    }
}

impl std::ops::Deref for Env {
    type Target = [(String, String)];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<Env> for Vec<(String, String)> {
    fn from(env: Env) -> Self {
        env.0
    }
}

/// [`Env::zoho`] as the plain list the tests extend with `push`.
pub fn zoho_env(sim: &SimHandle) -> Vec<(String, String)> {
    Env::zoho(sim).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_replaces_and_keeps_the_order() {
        let env = Env::default().with("A", "1").with("B", "2").with("A", "3");
        assert_eq!(
            &*env,
            &[
                ("A".to_owned(), "3".to_owned()),
                ("B".to_owned(), "2".to_owned())
            ]
        );
    }
}
