//! State shared between the [`Engine`](crate::Engine) and the Rust callbacks installed in Lua.
//!
//! Callbacks must be `'static`, so the frontend, the pager buffer, the `State` store slot, the
//! `Tool` registry slot and the LLM providers live behind `Rc<RefCell<..>>` and survive `Engine::reset`. Borrows are
//! short and never held across a call back into Lua, so they cannot conflict; a failed borrow
//! still becomes a Lua error rather than a panic.

use std::cell::RefCell;
use std::rc::Rc;

use crate::llm::ProviderSlot;
use crate::state::StateSlot;
use crate::tools::ToolSlot;
use crate::{Frontend, InputError, StreamName};

/// Cheap to clone: every clone shares the same frontend, pager, state and tool slots.
#[derive(Clone)]
pub(crate) struct Host {
    frontend: Rc<RefCell<Box<dyn Frontend>>>,
    pager: Rc<RefCell<String>>,
    state: StateSlot,
    tools: ToolSlot,
    providers: ProviderSlot,
}

/// The frontend was already borrowed (only reachable through a re-entrant frontend).
fn busy() -> mlua::Error {
    mlua::Error::runtime("the kernel frontend is busy")
}

impl Host {
    pub(crate) fn new(frontend: Box<dyn Frontend>) -> Host {
        Host {
            frontend: Rc::new(RefCell::new(frontend)),
            pager: Rc::default(),
            state: StateSlot::default(),
            tools: ToolSlot::default(),
            providers: ProviderSlot::default(),
        }
    }

    pub(crate) fn stream(&self, name: StreamName, text: &str) -> mlua::Result<()> {
        let mut f = self.frontend.try_borrow_mut().map_err(|_| busy())?;
        f.stream(name, text);
        Ok(())
    }

    pub(crate) fn display(
        &self,
        data: serde_json::Map<String, serde_json::Value>,
        metadata: serde_json::Map<String, serde_json::Value>,
    ) -> mlua::Result<()> {
        let mut f = self.frontend.try_borrow_mut().map_err(|_| busy())?;
        f.display(data, metadata);
        Ok(())
    }

    pub(crate) fn clear_output(&self, wait: bool) -> mlua::Result<()> {
        let mut f = self.frontend.try_borrow_mut().map_err(|_| busy())?;
        f.clear_output(wait);
        Ok(())
    }

    /// Outer error: the frontend was busy; inner: the frontend's answer.
    pub(crate) fn input(
        &self,
        prompt: &str,
        password: bool,
    ) -> mlua::Result<Result<String, InputError>> {
        let mut f = self.frontend.try_borrow_mut().map_err(|_| busy())?;
        Ok(f.input(prompt, password))
    }

    /// The store behind the `State` global.
    pub(crate) fn state(&self) -> &StateSlot {
        &self.state
    }

    /// The registry behind the `Tool` global.
    pub(crate) fn tools(&self) -> &ToolSlot {
        &self.tools
    }

    /// The providers behind `Provider` and `Agent`.
    pub(crate) fn providers(&self) -> &ProviderSlot {
        &self.providers
    }

    pub(crate) fn page(&self, text: &str) {
        self.pager.borrow_mut().push_str(text);
    }

    /// The pager text collected since the last call, `None` when empty.
    pub(crate) fn take_pager(&self) -> Option<String> {
        let text = std::mem::take(&mut *self.pager.borrow_mut());
        (!text.is_empty()).then_some(text)
    }
}
