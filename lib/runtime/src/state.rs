//! The `State` global: JSON-able Lua values kept across cells, resets and kernel restarts in an
//! [`llmspell_state::Store`].
//!
//! `State.save(scope, key, value)`, `State.load(scope, key)` (the value, or `nil` when absent),
//! `State.delete(scope, key)` (whether it existed) and `State.list_keys(scope)` (sorted). The
//! scope is never optional: with a default scope, `State.save("k", "v")` could mean "save `"v"`
//! under `k`" or "save `nil` under `("k", "v")`", so `save` insists on three arguments and the
//! others on strings.
//!
//! Values go through the `JSON` global's conversion ([`json`](crate::json)), so integers stay
//! integers, floats stay floats, a stored `JSON.null` loads as `JSON.null`, and a value JSON
//! cannot hold fails with the key path of the offending part.
//!
//! The store is opened on first use, so an engine whose scripts never touch `State` creates no
//! file; a failed open is retried on the next call. The [`StateSlot`] lives in the
//! [`Host`](crate::host::Host), so it survives `Engine::reset`. Every failure, including "no
//! store attached", is a Lua error that starts with the caller's position and the function name.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use llmspell_state::{StateError, Store};
use mlua::{Lua, MultiValue, Value};

use crate::errors::located;
use crate::json;

/// What a `State` call says when the engine has no store.
pub(crate) const NOT_AVAILABLE: &str = "State is not available: this engine has no state store";

/// The store behind `State`: a path once attached, a connection once used. Clones share it.
#[derive(Clone, Default)]
pub(crate) struct StateSlot(Rc<RefCell<Slot>>);

#[derive(Default)]
struct Slot {
    path: Option<PathBuf>,
    store: Option<Store>,
}

/// Why a store call failed, before it is turned into a located Lua error.
enum Failure {
    NotAvailable,
    Busy,
    Store(StateError),
}

impl StateSlot {
    /// Back `State` by the file at `path` (opened lazily). A store open on another path is closed.
    pub(crate) fn attach(&self, path: PathBuf) {
        let mut slot = self.0.borrow_mut();
        if slot.path.as_ref() != Some(&path) {
            slot.store = None;
            slot.path = Some(path);
        }
    }

    /// Checkpoint and close the store if it is open; the next `State` call opens it again.
    pub(crate) fn close(&self) -> Result<(), String> {
        let store = self.0.try_borrow_mut().map_err(|_| "the state store is busy")?.store.take();
        match store {
            Some(store) => store.checkpoint().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// Run `f` on the store, opening it first if needed.
    fn with<T>(&self, f: impl FnOnce(&Store) -> Result<T, StateError>) -> Result<T, Failure> {
        let mut slot = self.0.try_borrow_mut().map_err(|_| Failure::Busy)?;
        let Slot { path, store } = &mut *slot;
        if store.is_none() {
            let path = path.as_ref().ok_or(Failure::NotAvailable)?;
            *store = Some(Store::open(path).map_err(Failure::Store)?);
        }
        let store = store.as_ref().ok_or(Failure::NotAvailable)?;
        f(store).map_err(Failure::Store)
    }
}

/// Install the `State` global.
pub(crate) fn install(lua: &Lua, slot: &StateSlot) -> mlua::Result<()> {
    let state = lua.create_table()?;

    let s = slot.clone();
    let save = lua.create_function(move |lua, args: MultiValue| {
        const F: &str = "State.save";
        if args.len() != 3 {
            let msg = format!(
                "{F}: expected 3 arguments (scope, key, value), got {}; there is no default scope",
                args.len()
            );
            return Err(located(lua, msg));
        }
        let scope = name(lua, F, "scope", &args[0])?;
        let key = name(lua, F, "key", &args[1])?;
        let value = json::to_json(&args[2])
            .map_err(|e| located(lua, format!("{F}({scope:?}, {key:?}): {e}")))?;
        s.with(|st| st.save(&scope, &key, &value)).map_err(|e| fail(lua, F, e))
    })?;
    state.raw_set("save", save)?;

    let s = slot.clone();
    let load = lua.create_function(move |lua, (scope, key): (Value, Value)| {
        const F: &str = "State.load";
        let (scope, key) = (name(lua, F, "scope", &scope)?, name(lua, F, "key", &key)?);
        match s.with(|st| st.load(&scope, &key)).map_err(|e| fail(lua, F, e))? {
            Some(v) => json::from_json(lua, &v),
            None => Ok(Value::Nil),
        }
    })?;
    state.raw_set("load", load)?;

    let s = slot.clone();
    let delete = lua.create_function(move |lua, (scope, key): (Value, Value)| {
        const F: &str = "State.delete";
        let (scope, key) = (name(lua, F, "scope", &scope)?, name(lua, F, "key", &key)?);
        s.with(|st| st.delete(&scope, &key)).map_err(|e| fail(lua, F, e))
    })?;
    state.raw_set("delete", delete)?;

    let s = slot.clone();
    let list_keys = lua.create_function(move |lua, scope: Value| {
        const F: &str = "State.list_keys";
        let scope = name(lua, F, "scope", &scope)?;
        let keys = s.with(|st| st.list_keys(&scope)).map_err(|e| fail(lua, F, e))?;
        lua.create_sequence_from(keys)
    })?;
    state.raw_set("list_keys", list_keys)?;

    lua.globals().raw_set("State", state)
}

/// A scope or key argument: a UTF-8 string (emptiness and length are the store's to check).
fn name(lua: &Lua, func: &str, what: &str, v: &Value) -> mlua::Result<String> {
    match v {
        Value::String(s) => s
            .to_str()
            .map(|s| s.to_string())
            .map_err(|_| located(lua, format!("{func}: the {what} is not valid UTF-8"))),
        other => Err(located(
            lua,
            format!("{func}: the {what} must be a string, got {}", other.type_name()),
        )),
    }
}

fn fail(lua: &Lua, func: &str, failure: Failure) -> mlua::Error {
    match failure {
        Failure::NotAvailable => located(lua, NOT_AVAILABLE),
        Failure::Busy => located(lua, format!("{func}: the state store is busy")),
        Failure::Store(e) => located(lua, format!("{func}: {e}")),
    }
}

#[cfg(test)]
mod tests;
