//! proxy-wasm glue: the only code that talks to Envoy. Two root ids share one `.wasm`:
//! `capture` (an upstream HTTP filter on each cluster) and `compare` (the singleton service).

mod capture;
mod compare;
#[cfg(feature = "fault-injection")]
mod fault;
mod host;

use crate::config::CaptureConfig;
use capture::{CaptureFilter, CaptureShared};
use compare::CompareService;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    std::panic::set_hook(Box::new(|info| {
        // Reached only through a bug or an SDK-internal panic: say where before the VM dies.
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("shadow_compare panicked: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::Unconfigured) });
}}

/// What a root context became in `on_configure`, from its `root_id`.
enum Root {
    Unconfigured,
    Capture(Rc<CaptureShared>),
    Compare(Box<CompareService>),
}

impl Context for Root {
    fn on_http_call_response(&mut self, _: u32, _: usize, _: usize, _: usize) {
        if let Root::Compare(s) = self {
            s.on_sample_response();
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let root_id = host::property(&["plugin_root_id"]).ok().flatten().unwrap_or_default();
        let config = self.get_plugin_configuration().unwrap_or_default();
        let result = match root_id.as_slice() {
            b"capture" => CaptureConfig::parse(&config)
                .map_err(|e| e.to_string())
                .and_then(CaptureShared::new)
                .map(|s| Root::Capture(Rc::new(s))),
            b"compare" => CompareService::configure(&config).map(|s| Root::Compare(Box::new(s))),
            other => Err(format!(
                "root_id '{}' is neither 'capture' nor 'compare'",
                String::from_utf8_lossy(other)
            )),
        };
        match result {
            Ok(root) => {
                // The compare service sets its own tick period; a capture's tick runs only while its batch
                // holds records (`CaptureShared::on_tick`).
                *self = root;
                true
            }
            Err(e) => {
                log::error!("shadow_compare: invalid configuration: {e}");
                false
            }
        }
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        if let Root::Compare(s) = self {
            s.on_queue_ready(queue_id);
        }
    }

    fn on_tick(&mut self) {
        match self {
            Root::Compare(s) => s.on_tick(),
            Root::Capture(s) => s.on_tick(),
            Root::Unconfigured => {}
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        match self {
            Root::Capture(shared) => Some(Box::new(CaptureFilter::new(Rc::clone(shared)))),
            // The SDK panics on None: a compare root used as a filter by mistake passes traffic untouched.
            _ => Some(Box::new(PassThrough)),
        }
    }
}

struct PassThrough;
impl Context for PassThrough {}
impl HttpContext for PassThrough {}
