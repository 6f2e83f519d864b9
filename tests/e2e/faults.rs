//! Faults of a real host, injected into `rg serve`: a worker out of file
//! descriptors, the access log's directory removed, the master killed
//! without a word.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::serve_config::serve_with_open_files;
use crate::support::{Serve, eventually, get, workers};

/// A process's CPU time so far (user and system), from /proc.
fn cpu_time(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<u64> = stat
        .rsplit_once(") ")
        .unwrap()
        .1
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15; `fields` starts at field 4.
    // SAFETY: sysconf(3) has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((fields[10] + fields[11]) * 1000 / ticks)
}

#[test]
fn a_worker_out_of_descriptors_says_so_once_never_spins_and_serves_again() {
    let tmp = tempfile::tempdir().unwrap();
    // 64 descriptors, which 1000 connections cannot raise: a flood runs the
    // worker out of them, and the rest of it waits in the listen queue.
    let master = serve_with_open_files(tmp.path(), 64, 64, "1");
    let (addr, worker) = (master.addr(), workers(&master)[0]);
    let crate::support::Addr::Tcp(socket) = addr.clone() else {
        unreachable!("serve_with_open_files binds TCP")
    };
    // Each sends half a head, so none of them is idle and none is answered.
    let flood: Vec<TcpStream> = (0..120)
        .map(|_| {
            let mut stream = TcpStream::connect(socket).unwrap();
            stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    let said = "failed: Too many open files (os error 24) (the open files limit is 64)";
    assert!(
        eventually(Duration::from_secs(5), || master.stderr().contains(said)),
        "{}",
        master.stderr()
    );
    // A client that comes now waits in the queue, and is answered later.
    let waiting = std::thread::spawn({
        let addr = addr.clone();
        move || get(&addr, "/")
    });
    let before = cpu_time(worker);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_time(worker) - before;
    assert!(
        spent < Duration::from_millis(200),
        "the worker spun: {spent:?} of CPU in 1 s"
    );
    assert!(!waiting.is_finished(), "answered while out of descriptors?");

    drop(flood);
    let answer = waiting.join().unwrap().unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(get(&addr, "/").unwrap().status, 200);
    let err = master.stderr();
    assert_eq!(err.matches(said).count(), 1, "said once: {err}");
    assert!(err.contains("works again, after"), "{err}");
}

#[test]
fn an_access_log_whose_directory_was_removed_comes_back_on_usr1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let log = dir.join("access.log");
    let master = Serve::fixture()
        .current_dir(tmp.path())
        .args(["-w", "1", "--access-logfile", log.to_str().unwrap()])
        .start();
    let addr = master.addr();
    let logged = |path: &str| {
        eventually(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).unwrap_or_default().contains(path)
        })
    };
    get(&addr, "/before").unwrap();
    assert!(logged("GET /before"));

    // Removed, as a careless cleanup does: reopening fails and says where;
    // every request is served all the same.
    std::fs::remove_dir_all(&dir).unwrap();
    master.signal(libc::SIGUSR1);
    let said = format!("{}", log.display());
    assert!(
        eventually(Duration::from_secs(5), || master
            .stderr()
            .lines()
            .any(|l| l.contains("WARN") && l.contains(&said))),
        "{}",
        master.stderr()
    );
    for _ in 0..20 {
        assert_eq!(get(&addr, "/").unwrap().status, 200);
    }

    // Back, and USR1 again: the lines land in the new file.
    std::fs::create_dir(&dir).unwrap();
    master.signal(libc::SIGUSR1);
    assert!(
        master.wait_for_output("Reopened the log files", Duration::from_secs(5)),
        "{}",
        master.stderr()
    );
    get(&addr, "/after").unwrap();
    assert!(logged("GET /after"), "{}", master.stderr());
}

#[test]
fn workers_exit_within_a_second_of_the_master_killed_and_the_port_is_free() {
    let master = Serve::fixture().args(["-w", "2"]).start();
    let (pids, port) = (workers(&master), master.port());
    assert_eq!(pids.len(), 2);
    master.signal(libc::SIGKILL);
    let killed = Instant::now();
    let alive = |pid: i32| {
        Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(
        eventually(Duration::from_secs(10), || pids.iter().all(|p| !alive(*p))),
        "orphaned workers kept running"
    );
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(1), "the workers took {took:?} to exit");
    TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}
