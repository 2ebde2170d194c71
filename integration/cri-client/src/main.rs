//! husk-cri-client: the few CRI v1 (runtime.v1) calls kubelet makes for a pod's lifetime, one per
//! invocation, so that integration/containerd/run can check each step (crictl is not packaged for
//! Debian 12). Pods always use the host network (NamespaceOption network NODE), so no CNI is needed.
//!
//! Output: ids on stdout; `exec-sync` prints the command's stdout/stderr and exits with its exit code;
//! `status`/`pod-status` print the state name (and the exit code for containers).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ExecSyncRequest, ImageSpec, LinuxContainerConfig,
    LinuxContainerResources, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest, UpdateContainerResourcesRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Parser)]
#[command(about = "A minimal CRI v1 client for husk's containerd suite")]
struct Cli {
    /// containerd's gRPC socket (CRI is served on the main socket).
    #[arg(long)]
    socket: PathBuf,
    #[command(subcommand)]
    command: Command,
}

/// The pod as kubelet describes it; CreateContainer needs it again, as with crictl.
#[derive(Args)]
struct PodArgs {
    /// Pod name (also used as its uid).
    #[arg(long)]
    pod_name: String,
    #[arg(long, default_value = "default")]
    pod_namespace: String,
    /// RuntimeClass handler: the containerd runtimes.<name> to run the pod with.
    #[arg(long, default_value = "")]
    handler: String,
    /// Parent cgroup of the pod (cgroupfs path).
    #[arg(long, default_value = "")]
    cgroup_parent: String,
    /// Directory for the containers' logs.
    #[arg(long)]
    log_dir: String,
}

/// Resources as kubelet sends them; 0 means unset.
#[derive(Args)]
struct ResourceArgs {
    #[arg(long, default_value_t = 0)]
    memory: i64,
    #[arg(long, default_value_t = 0)]
    cpu_shares: i64,
    #[arg(long, default_value_t = 0)]
    cpu_quota: i64,
    #[arg(long, default_value_t = 0)]
    cpu_period: i64,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the runtime name and version.
    Version,
    /// RunPodSandbox; prints the pod id.
    RunPod(PodArgs),
    /// PodSandboxStatus; prints SANDBOX_READY or SANDBOX_NOTREADY.
    PodStatus {
        pod_id: String,
    },
    StopPod {
        pod_id: String,
    },
    RemovePod {
        pod_id: String,
    },
    /// CreateContainer in POD_ID; prints the container id.
    Create {
        #[arg(long)]
        pod_id: String,
        #[command(flatten)]
        pod: PodArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        image: String,
        #[command(flatten)]
        resources: ResourceArgs,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    Start {
        container_id: String,
    },
    /// ContainerStatus; prints the state name and the exit code.
    Status {
        container_id: String,
    },
    /// ExecSync; prints the command's output and exits with its exit code.
    ExecSync {
        container_id: String,
        #[arg(long, default_value_t = 30)]
        timeout: i64,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// UpdateContainerResources.
    Update {
        container_id: String,
        #[command(flatten)]
        resources: ResourceArgs,
    },
    Stop {
        container_id: String,
        #[arg(long, default_value_t = 10)]
        timeout: i64,
    },
    Remove {
        container_id: String,
    },
}

impl PodArgs {
    fn config(&self) -> PodSandboxConfig {
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: self.pod_name.clone(),
                uid: self.pod_name.clone(),
                namespace: self.pod_namespace.clone(),
                attempt: 0,
            }),
            // No hostname: with the host network the pod also shares the host's UTS namespace.
            log_directory: self.log_dir.clone(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(host_network()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl ResourceArgs {
    fn to_cri(&self) -> LinuxContainerResources {
        LinuxContainerResources {
            memory_limit_in_bytes: self.memory,
            cpu_shares: self.cpu_shares,
            cpu_quota: self.cpu_quota,
            cpu_period: self.cpu_period,
            ..Default::default()
        }
    }
}

/// Host network (no CNI); pid per container and ipc per pod, as kubelet's defaults.
fn host_network() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node.into(),
        pid: NamespaceMode::Container.into(),
        ipc: NamespaceMode::Pod.into(),
        ..Default::default()
    }
}

async fn connect(socket: PathBuf) -> Result<RuntimeServiceClient<Channel>> {
    // The URI is required by the API but unused: the connector always dials the unix socket.
    let channel = Endpoint::try_from("http://[::]:0")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await
        .context("connecting to containerd's socket")?;
    Ok(RuntimeServiceClient::new(channel))
}

/// Runs one command; returns the process exit code.
async fn run(cli: Cli) -> Result<i32> {
    let mut client = connect(cli.socket).await?;
    match cli.command {
        Command::Version => {
            let v = client
                .version(VersionRequest::default())
                .await?
                .into_inner();
            println!(
                "{} {} (CRI {})",
                v.runtime_name, v.runtime_version, v.runtime_api_version
            );
        }
        Command::RunPod(pod) => {
            let resp = client
                .run_pod_sandbox(RunPodSandboxRequest {
                    config: Some(pod.config()),
                    runtime_handler: pod.handler.clone(),
                })
                .await?
                .into_inner();
            println!("{}", resp.pod_sandbox_id);
        }
        Command::PodStatus { pod_id } => {
            let status = client
                .pod_sandbox_status(PodSandboxStatusRequest {
                    pod_sandbox_id: pod_id,
                    verbose: false,
                })
                .await?
                .into_inner()
                .status
                .context("PodSandboxStatus returned no status")?;
            println!("{}", PodSandboxState::try_from(status.state)?.as_str_name());
        }
        Command::StopPod { pod_id } => {
            client
                .stop_pod_sandbox(StopPodSandboxRequest {
                    pod_sandbox_id: pod_id,
                })
                .await?;
        }
        Command::RemovePod { pod_id } => {
            client
                .remove_pod_sandbox(RemovePodSandboxRequest {
                    pod_sandbox_id: pod_id,
                })
                .await?;
        }
        Command::Create {
            pod_id,
            pod,
            name,
            image,
            resources,
            command,
        } => {
            let config = ContainerConfig {
                metadata: Some(ContainerMetadata {
                    name: name.clone(),
                    attempt: 0,
                }),
                image: Some(ImageSpec {
                    image,
                    ..Default::default()
                }),
                command,
                log_path: format!("{name}.log"),
                linux: Some(LinuxContainerConfig {
                    resources: Some(resources.to_cri()),
                    security_context: Some(LinuxContainerSecurityContext {
                        namespace_options: Some(host_network()),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            };
            let resp = client
                .create_container(CreateContainerRequest {
                    pod_sandbox_id: pod_id,
                    config: Some(config),
                    sandbox_config: Some(pod.config()),
                })
                .await?
                .into_inner();
            println!("{}", resp.container_id);
        }
        Command::Start { container_id } => {
            client
                .start_container(StartContainerRequest { container_id })
                .await?;
        }
        Command::Status { container_id } => {
            let status = client
                .container_status(ContainerStatusRequest {
                    container_id,
                    verbose: false,
                })
                .await?
                .into_inner()
                .status
                .context("ContainerStatus returned no status")?;
            println!(
                "{} {}",
                ContainerState::try_from(status.state)?.as_str_name(),
                status.exit_code
            );
        }
        Command::ExecSync {
            container_id,
            timeout,
            command,
        } => {
            let resp = client
                .exec_sync(ExecSyncRequest {
                    container_id,
                    cmd: command,
                    timeout,
                })
                .await?
                .into_inner();
            use std::io::Write;
            std::io::stdout().write_all(&resp.stdout)?;
            std::io::stderr().write_all(&resp.stderr)?;
            return Ok(resp.exit_code);
        }
        Command::Update {
            container_id,
            resources,
        } => {
            client
                .update_container_resources(UpdateContainerResourcesRequest {
                    container_id,
                    linux: Some(resources.to_cri()),
                    ..Default::default()
                })
                .await?;
        }
        Command::Stop {
            container_id,
            timeout,
        } => {
            client
                .stop_container(StopContainerRequest {
                    container_id,
                    timeout,
                })
                .await?;
        }
        Command::Remove { container_id } => {
            client
                .remove_container(RemoveContainerRequest { container_id })
                .await?;
        }
    }
    Ok(0)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let code = runtime.block_on(run(cli))?;
    std::process::exit(code);
}
