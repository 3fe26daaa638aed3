//! `scripts/bench-density N`: N live bots on this host against the fake Telegram, every figure of the
//! scale issue in one run, beside a bare-Docker baseline measured in the same run:
//! - **bare Docker**: create + start of the same worker image (a real worker with its own bot, a published
//!   port, on a bridge network of its own), the same number at once as the manager's creates, then removal: once
//!   on the empty host before the creates, and once beside the N live bots before the deletes. Docker's
//!   own cost grows with the containers it holds, and the manager's creates run from 0 to N bots and its
//!   deletes from N to 0, so the ratios are given against both;
//! - **creates**: N `POST /api/v1/instances`, `--concurrency` at a time, until every bot is running and
//!   `client_ready`: containers started per second (beside bare Docker's) and the time to the last ready;
//! - **networks**: where the workers landed with `--network auto`;
//! - **idle**: over a window with every bot idle, the manager's CPU (share of one core), its memory, the
//!   database write transactions by kind and the health round's time;
//! - **reads**: `GET /api/v1/instances/{id}` and a page of 100 with wrk, the unpaged list;
//! - **deletes**: N `DELETE`s until every container is gone (beside bare Docker's removals), and the
//!   manager's networks removed after.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use bollard::{
    Docker,
    models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding},
    query_parameters::{
        CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
    },
};
use botfleet_tests::{
    harness::{self, Manager, ManagerOptions, create_body},
    wrk::wrk,
};
use clap::Parser;
use futures::StreamExt;
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Density benchmark for botfleet: N live bots on one host")]
struct Args {
    /// Live bots.
    #[arg(long, default_value_t = 2000)]
    bots: usize,
    /// Creates (and deletes) in flight at once, for the manager and for bare Docker.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Containers of the bare-Docker baseline.
    #[arg(long, default_value_t = 200)]
    bare: usize,
    /// Seconds of the idle window.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Seconds of each wrk run.
    #[arg(long, default_value_t = 10)]
    wrk_secs: u32,
    /// Heap profile: the manager (built with `--features manager/dhat-heap`) writes it to this file
    /// when it is stopped (SIGTERM) after the reads, with every bot live; the containers are then
    /// removed directly and no delete figures are taken.
    #[arg(long)]
    heap_profile: Option<std::path::PathBuf>,
}

/// Worker ports from here (below the tests' blocks and Linux's ephemeral ports).
const FIRST_PORT: u16 = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!((1..=9_000).contains(&args.bots), "--bots must be 1 to 9000");
    let n = args.bots;
    let (fake, tg_url) = harness::start_fake_telegram().await;
    let tokens: Vec<String> = (0..n)
        .map(|i| fake.add_bot(20_000_000 + i as u64, &format!("dn{i}_bot")))
        .collect();

    let mut options = ManagerOptions::new(&tg_url).await.without_rate_limits();
    let last_port = FIRST_PORT + u16::try_from(n + 100)?;
    options.ports = (FIRST_PORT, last_port);
    options.health_interval_secs = 5.0;
    options.env.extend([
        ("BOTFLEET_NETWORK".into(), "auto".into()),
        ("RUST_LOG".into(), "warn".into()),
    ]);
    if let Some(file) = &args.heap_profile {
        options
            .env
            .push(("BOTFLEET_DHAT_FILE".into(), file.display().to_string()));
    }
    let fleet = options.fleet.clone();
    let m = Manager::spawn(options);
    let pid = m.pid();
    eprintln!(
        "== manager {pid} up; bare Docker baseline ({} containers)",
        args.bare
    );
    let docker = Docker::connect_with_local_defaults()?;
    // Each run's bots get ids of their own (from `first_bot_id`) and the ports after the fleet's.
    let bare_run = |first_bot_id| {
        bare_docker(
            &docker,
            &fake,
            &tg_url,
            args.bare,
            args.concurrency,
            last_port + 1,
            first_bot_id,
        )
    };
    let bare = bare_run(30_000_000).await?;

    // Creates.
    let available_before = host_available_mb();
    eprintln!("== creating {n} bots, {} at a time", args.concurrency);
    let first_create = Instant::now();
    let bodies: Vec<Value> = tokens.iter().map(|t| create_body("density", t)).collect();
    let created: Vec<(u16, Value)> = futures::stream::iter(&bodies)
        .map(|b| m.post("/api/v1/instances", b))
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let accepted = first_create.elapsed();
    let ids: Vec<String> = created
        .iter()
        .map(|(status, body)| {
            anyhow::ensure!(*status == 201, "create failed: {body}");
            Ok(body["instance_id"].as_str().unwrap_or_default().to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    // Counted through filtered pages of one (their `total`): the whole list every half second would
    // cost the manager a serialized view of every bot each time, and slow the creates it measures.
    // A second a bot, at least 15 minutes: a host near its memory's end creates at 1–2 a second.
    let patience = Duration::from_secs((n as u64).max(900));
    let mut all_started = None;
    let all_ready = loop {
        let running = count(&m, "running").await?;
        let started = running + count(&m, "starting").await?;
        if started == n && all_started.is_none() {
            all_started = Some(first_create.elapsed());
        }
        if running == n {
            let ready = list_all(&m)
                .await?
                .iter()
                .filter(|i| i["status"] == "running" && i["auth_status"] == "client_ready")
                .count();
            if ready == n {
                break first_create.elapsed();
            }
        }
        anyhow::ensure!(
            first_create.elapsed() < patience,
            "only {running} of {n} bots running after {} s",
            patience.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let all_started = all_started.unwrap_or(all_ready);
    let networks = worker_networks(&fleet);
    eprintln!(
        "== all {n} ready after {:.1} s; settling",
        all_ready.as_secs_f64()
    );

    // Idle.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (cpu0, writes0, t0) = (cpu_ticks(pid)?, m.metrics().await, Instant::now());
    let (mut rounds, mut oldest, mut probed) = (Vec::new(), Vec::new(), Vec::new());
    while t0.elapsed() < Duration::from_secs(args.idle_secs) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let figures = m.metrics().await;
        let figure = |name: &str| figures.get(name).copied().unwrap_or(0.0);
        rounds.push(figure("botfleet_health_round_seconds"));
        oldest.push(figure("botfleet_health_oldest_check_seconds"));
        probed.push(figure("botfleet_health_round_probed"));
    }
    let (cpu1, writes1, idle) = (cpu_ticks(pid)?, m.metrics().await, t0.elapsed());
    let cpu_percent = (cpu1 - cpu0) as f64 / ticks_per_second() / idle.as_secs_f64() * 100.0;
    let (rss_mb, peak_mb, anon_mb, file_mb) = memory_mb(pid)?;
    let host_per_bot = (available_before - host_available_mb()) / n as f64;
    let worker_pss = worker_pss_mb(&fleet, 20);
    let checked = writes1
        .get("botfleet_health_round_workers")
        .copied()
        .unwrap_or(0.0);
    let worker_mem = worker_memory_mib(&fleet, 20);

    // Reads, on the live fleet.
    eprintln!("== reads");
    let key = m.options.admin_key.clone();
    let one = wrk(
        &m.url(&format!("/api/v1/instances/{}", ids[n / 2])),
        &key,
        16,
        args.wrk_secs,
    )?;
    let page = wrk(
        &m.url("/api/v1/instances?limit=100&offset=100"),
        &key,
        16,
        args.wrk_secs,
    )?;
    let mut unpaged = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let list = list_all(&m).await?;
        anyhow::ensure!(list.len() == n, "the unpaged list held {}", list.len());
        unpaged.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    unpaged.sort_by(f64::total_cmp);
    if let Some(file) = &args.heap_profile {
        let mut m = m;
        m.stop();
        eprintln!(
            "== manager stopped with {n} live bots (RSS {rss_mb:.1} MB, idle CPU {cpu_percent:.1} %, \
             GET {{id}} p99 {:.2} ms, page p99 {:.2} ms); heap profile: {}",
            one.1,
            page.1,
            file.display()
        );
        return Ok(());
    }

    eprintln!("== bare Docker beside {n} live bots");
    let bare_full = bare_run(40_000_000).await.unwrap_or_else(|e| {
        // The fleet's own figures are worth more than this baseline: report them without it.
        eprintln!("bare Docker beside the fleet failed: {e:#}");
        Bare {
            create_rate: f64::NAN,
            remove_rate: f64::NAN,
        }
    });

    // Deletes.
    eprintln!("== deleting {n} bots");
    let deleting = Instant::now();
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/api/v1/instances/{id}"))
        .collect();
    let deleted: Vec<(u16, Value)> = futures::stream::iter(&paths)
        .map(|path| m.delete(path))
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    for (status, body) in &deleted {
        anyhow::ensure!(*status == 200, "delete failed: {body}");
    }
    while !harness::fleet_containers(&fleet).is_empty() {
        anyhow::ensure!(
            deleting.elapsed() < patience,
            "containers left after {} s",
            patience.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let deleted_in = deleting.elapsed();
    let networks_left = wait_networks_gone(&fleet, Duration::from_secs(120)).await;

    // Report.
    let rate = |count: usize, d: Duration| count as f64 / d.as_secs_f64();
    let create_rate = rate(n, all_started);
    let delete_rate = rate(n, deleted_in);
    println!(
        "botfleet bench-density: {n} bots, {} at a time, SQLite, release build",
        args.concurrency
    );
    println!(
        "{:<58} {:>14} {:>14}",
        "figure", "botfleet", "bare Docker (empty host / beside N)"
    );
    let line =
        |name: &str, ours: String, bare: String| println!("{name:<58} {ours:>14} {bare:>14}");
    line(
        "creates accepted by the API (/s)",
        format!("{:.1}", rate(n, accepted)),
        "-".into(),
    );
    // A rate beside bare Docker's on the empty host and beside the fleet, and their ratios.
    let compared = |name: &str, ours: f64, empty: f64, full: f64| {
        line(
            name,
            format!("{ours:.1}"),
            format!("{empty:.1} / {full:.1}"),
        );
        line(
            "  ratio botfleet / bare (empty host / beside N)",
            format!("{:.2} / {:.2}", ours / empty, ours / full),
            "".into(),
        );
    };
    compared(
        "containers started (/s)",
        create_rate,
        bare.create_rate,
        bare_full.create_rate,
    );
    line(
        "all started after (s)",
        format!("{:.1}", all_started.as_secs_f64()),
        "".into(),
    );
    line(
        "all running and client_ready after (s)",
        format!("{:.1}", all_ready.as_secs_f64()),
        "".into(),
    );
    compared(
        "deletes, containers removed (/s)",
        delete_rate,
        bare.remove_rate,
        bare_full.remove_rate,
    );
    line(
        "workers per network",
        networks
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        "".into(),
    );
    line(
        "manager networks left after the deletes",
        networks_left.to_string(),
        "".into(),
    );
    println!("-- idle fleet, {:.0} s window", idle.as_secs_f64());
    line(
        "manager CPU (% of one core)",
        format!("{cpu_percent:.1}"),
        "".into(),
    );
    line(
        "manager RSS now / peak (MB)",
        format!("{rss_mb:.1} / {peak_mb:.1}"),
        "".into(),
    );
    line(
        "  of it anonymous / the binary's pages (MB)",
        format!("{anon_mb:.1} / {file_mb:.1}"),
        "".into(),
    );
    line(
        "host memory per bot (MemAvailable drop / bots, MB)",
        format!("{host_per_bot:.2}"),
        "".into(),
    );
    line(
        "worker process PSS (20 sampled) median / max (MB)",
        format!(
            "{:.2} / {:.2}",
            worker_pss.get(worker_pss.len() / 2).copied().unwrap_or(0.0),
            worker_pss.last().copied().unwrap_or(0.0)
        ),
        "".into(),
    );
    line(
        "health round (s): max / last",
        format!(
            "{:.2} / {:.2}",
            rounds.iter().copied().fold(0.0, f64::max),
            rounds.last().copied().unwrap_or(0.0)
        ),
        "".into(),
    );
    line(
        "workers in a health round / asked by it (max)",
        format!(
            "{checked:.0} / {:.0}",
            probed.iter().copied().fold(0.0, f64::max)
        ),
        "".into(),
    );
    line(
        "oldest health check of a running bot (s, max)",
        format!("{:.1}", oldest.iter().copied().fold(0.0, f64::max)),
        "".into(),
    );
    let per_minute = 60.0 / idle.as_secs_f64();
    for kind in [
        "instance_update",
        "counters_flush",
        "instance_insert",
        "instance_delete",
    ] {
        let name = format!("botfleet_db_write_transactions_total{{kind=\"{kind}\"}}");
        let delta =
            writes1.get(&name).copied().unwrap_or(0.0) - writes0.get(&name).copied().unwrap_or(0.0);
        line(
            &format!("db write transactions/min: {kind}"),
            format!("{:.1}", delta * per_minute),
            "".into(),
        );
    }
    if let (Some(median), Some(max)) = (worker_mem.get(worker_mem.len() / 2), worker_mem.last()) {
        line(
            &format!(
                "worker memory, {} sampled (MiB): median / max",
                worker_mem.len()
            ),
            format!("{median:.1} / {max:.1}"),
            "".into(),
        );
    }
    println!(
        "-- reads at {n} live bots (wrk, 16 connections, {} s)",
        args.wrk_secs
    );
    line(
        "GET /api/v1/instances/{id}: p50 / p99 ms",
        format!("{:.2} / {:.2}", one.0, one.1),
        "".into(),
    );
    line("  requests/s", format!("{:.0}", one.2), "".into());
    line(
        "GET /api/v1/instances?limit=100: p50 / p99 ms",
        format!("{:.2} / {:.2}", page.0, page.1),
        "".into(),
    );
    line("  requests/s", format!("{:.0}", page.2), "".into());
    line(
        "unpaged list (streamed), one client: p50 / max ms",
        format!(
            "{:.1} / {:.1}",
            unpaged[unpaged.len() / 2],
            unpaged[unpaged.len() - 1]
        ),
        "".into(),
    );
    println!("ports {FIRST_PORT}-{last_port}");
    drop(m);
    Ok(())
}

/// What bare Docker does with the same image.
struct Bare {
    create_rate: f64,
    remove_rate: f64,
}

async fn bare_docker(
    docker: &Docker,
    fake: &botfleet_tests::fake_telegram::FakeTelegram,
    tg_url: &str,
    count: usize,
    concurrency: usize,
    first_port: u16,
    first_bot_id: u64,
) -> anyhow::Result<Bare> {
    let image = harness::worker_image();
    let prefix = harness::unique_name("bfbare");
    // A bridge of its own: the default one may already hold the fleet's workers (at most 1,023 a bridge).
    docker
        .create_network(NetworkCreateRequest {
            name: prefix.clone(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await?;
    let specs: Vec<(String, ContainerCreateBody)> = (0..count)
        .map(|i| {
            let token = fake.add_bot(
                first_bot_id + i as u64,
                &format!("bare{first_bot_id}_{i}_bot"),
            );
            let port = first_port + i as u16;
            let body = ContainerCreateBody {
                image: Some(image.clone()),
                env: Some(vec![
                    format!("BOTFLEET_PORT={port}"),
                    "BOTFLEET_INSTANCE_ID=bench".into(),
                    format!("BOTFLEET_BOT_TOKEN={token}"),
                    format!("BOTFLEET_API_KEY_SHA256={}", "0".repeat(64)),
                    format!("BOTFLEET_TELEGRAM_API_URL={tg_url}"),
                ]),
                exposed_ports: Some(vec![format!("{port}/tcp")]),
                host_config: Some(HostConfig {
                    network_mode: Some(prefix.clone()),
                    port_bindings: Some(HashMap::from([(
                        format!("{port}/tcp"),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(port.to_string()),
                        }]),
                    )])),
                    memory: Some(64 * 1024 * 1024),
                    ..Default::default()
                }),
                ..Default::default()
            };
            (format!("{prefix}-{i}"), body)
        })
        .collect();
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(specs)
        .map(|(name, body)| async move {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            let id = docker.create_container(Some(options), body).await?.id;
            docker
                .start_container(&id, None::<StartContainerOptions>)
                .await?;
            Ok(())
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let create_rate = count as f64 / started.elapsed().as_secs_f64();
    for r in results {
        r?;
    }
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let started = Instant::now();
    let removed: Vec<Result<(), bollard::errors::Error>> = futures::stream::iter(&names)
        .map(|name| {
            docker.remove_container(
                name,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let remove_rate = count as f64 / started.elapsed().as_secs_f64();
    for r in removed {
        r?;
    }
    docker.remove_network(&prefix).await?;
    Ok(Bare {
        create_rate,
        remove_rate,
    })
}

/// How many bots are in `status`.
async fn count(m: &Manager, status: &str) -> anyhow::Result<usize> {
    let (code, body) = m
        .get(&format!("/api/v1/instances?status={status}&limit=1"))
        .await;
    anyhow::ensure!(code == 200, "list by status failed: {body}");
    body["total"]
        .as_u64()
        .map(|t| t as usize)
        .ok_or_else(|| anyhow::anyhow!("no total in {body}"))
}

/// Every instance, from the unpaged (streamed) list.
async fn list_all(m: &Manager) -> anyhow::Result<Vec<Value>> {
    let (status, body) = m.get("/api/v1/instances").await;
    anyhow::ensure!(status == 200, "list failed: {body}");
    Ok(body["instances"].as_array().cloned().unwrap_or_default())
}

/// User + system CPU ticks of `pid`.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the command.
    let utime: u64 = fields.get(11).unwrap_or(&"0").parse()?;
    let stime: u64 = fields.get(12).unwrap_or(&"0").parse()?;
    Ok(utime + stime)
}

fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A `Field:   123 kB` line of a /proc file, in kB.
fn kb_field(text: &str, field: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Resident memory of `pid` in MB: (now, at its peak, anonymous, file-backed).
fn memory_mb(pid: u32) -> anyhow::Result<(f64, f64, f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mb = |field| kb_field(&status, field) / 1000.0;
    Ok((mb("VmRSS:"), mb("VmHWM:"), mb("RssAnon:"), mb("RssFile:")))
}

/// The host's available memory (`MemAvailable`), in MB.
fn host_available_mb() -> f64 {
    kb_field(
        &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
        "MemAvailable:",
    ) / 1000.0
}

/// Proportional set size (shared pages split among their users) of up to `sample` of the fleet's
/// worker processes, in MB, sorted.
fn worker_pss_mb(fleet: &str, sample: usize) -> Vec<f64> {
    let mut pss: Vec<f64> = harness::fleet_containers(fleet)
        .into_iter()
        .take(sample)
        .filter_map(|name| {
            let pid =
                harness::docker_lines(&["inspect", "--format", "{{.State.Pid}}", &name]).concat();
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            Some(kb_field(&rollup, "Pss:") / 1000.0)
        })
        .collect();
    pss.sort_by(f64::total_cmp);
    pss
}

/// How many of the fleet's containers joined each network.
fn worker_networks(fleet: &str) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for network in harness::docker_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=botfleet.fleet={fleet}"),
        "--format",
        "{{.Networks}}",
    ]) {
        *per.entry(network).or_default() += 1;
    }
    per
}

/// Memory of up to `sample` of the fleet's workers (cgroup usage as `docker stats` shows it), sorted.
fn worker_memory_mib(fleet: &str, sample: usize) -> Vec<f64> {
    let names: Vec<String> = harness::fleet_containers(fleet)
        .into_iter()
        .take(sample)
        .collect();
    let mut mib = harness::containers_memory_mib(&names);
    mib.sort_by(f64::total_cmp);
    mib
}

/// Waits until the manager removed its networks; how many are left at the end.
async fn wait_networks_gone(fleet: &str, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    loop {
        let left = harness::fleet_networks(fleet).len();
        if left == 0 || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
