//! The QoS engine: classify a container guaranteed / burstable / besteffort, plan the cgroup v2
//! protection and throttling files for its class (memory.min, memory.high, cpu.weight), write what
//! the spec leaves open, keep ancestors' memory.min high enough for the protection to count, and
//! explain it all.
//!
//! The runtime's sequence (create and update alike; on update, with the stored spec's resources
//! merged with the update, so the class and values are recomputed):
//! ```text
//! let policy = Policy::load(qos_config)?;            // once per invocation
//! let class = classify(&spec)?;                      // errors on a bad io.husk.qos.* annotation
//! let plan = plan(&class, &spec, &policy);
//! let cg = Cgroup::create(&h, &rel, resources)?;     // or cg.update(resources)
//! cg.apply_qos(&plan)?;                              // after the resources, nothing after it
//! if policy.enabled && policy.protect_ancestors && (plan.memory_min() > 0 || updating) {
//!     reconcile_ancestors(&h, &rel)?;
//! }
//! // delete: after cg.destroy(), reconcile_ancestors(&h, &rel) when protect_ancestors.
//! ```
//! Precedence, always: linux.resources.unified > values converted from linux.resources > policy.

mod ancestors;
mod apply;
mod class;
mod error;
mod explain;
mod plan;
mod policy;
mod record;
mod show;

pub use ancestors::reconcile_ancestors;
pub use class::{
    classify, Classification, QosClass, Rule, CLASS_ANNOTATION, MEMORY_REQUEST_ANNOTATION,
};
pub use error::QosError;
pub use explain::{explain, Explanation};
pub use plan::{plan, PlanEntry, QosPlan, Source};
pub use policy::{ClassPolicy, Policy, DEFAULT_POLICY_PATH};
pub use show::{show, LevelProtection, MemoryEvents, QosStatus};
