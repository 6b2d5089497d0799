"""Serving the app with waitress, in one process or several that share one listening socket.

A search spends part of its time in Python, which one process runs on one core at a time
(the GIL): measured on 2 cores with 8 concurrent clients, one waitress process gave about
90 requests/s and used 1.2 cores, two gave 166. So ``indexer serve`` forks a worker process
per core by default. The parent binds the socket, forks the workers (each opens the index
itself, after the fork), forwards SIGTERM/SIGINT to them, and starts a new worker if one
dies. Workers also die with the parent (``PR_SET_PDEATHSIG``), so none is left behind.

glibc gives each thread that allocates its own heap (an "arena", up to 8 per core), and each
arena keeps what its requests' largest temporary arrays took. With waitress's 8 threads that
was most of a worker's own memory at 50x Reuters: 184 MB with glibc's default, 127 MB with two
arenas (measured on the same generation). So the server asks glibc for two arenas, unless
``MALLOC_ARENA_MAX`` or glibc's ``arena_max`` tunable says otherwise.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import time

from waitress import create_server

log = logging.getLogger("web.server")
PR_SET_PDEATHSIG = 1
M_ARENA_MAX = -8  # glibc's mallopt parameter for the most arenas
MALLOC_ARENAS = 2
QUICK_FAILURE_SECONDS = 10.0  # a worker that dies this soon after starting failed to start
MAX_QUICK_FAILURES = 3  # in a row: starting more would only fail again, in a loop


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def serve(create_app, prepare, host: str, port: int, threads: int, workers: int, announce) -> None:
    """Serve until interrupted. ``create_app()`` makes the Flask app (in each worker);
    ``prepare(app)`` opens the index there, returning a note when it cannot; ``announce`` gets
    the address once the socket is bound."""
    limit_malloc_arenas()  # before any thread allocates; forked workers inherit the setting
    sock = listening_socket(host, port)
    announce(f"http://{host}:{sock.getsockname()[1]}/", workers)
    if workers <= 1:
        run_worker(create_app, prepare, sock, threads)
        return
    children: dict[int, int] = {}  # pid -> worker number
    started: dict[int, float] = {}  # pid -> when it started
    quick_failures = 0  # workers in a row that died soon after starting
    stopping = False
    exit_code = 0

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def start_worker(number: int) -> None:
        # SIGTERM and SIGINT wait until the new worker is in ``children`` (so that stop()
        # reaches it) and until the worker has its own handlers (not a copy of stop()).
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            pid = fork_worker(create_app, prepare, sock, threads)
            children[pid], started[pid] = number, time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for number in range(workers):
        start_worker(number)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        number = children.pop(pid, None)
        lived = time.monotonic() - started.pop(pid, 0.0)
        quick_failures = quick_failures + 1 if status and lived < QUICK_FAILURE_SECONDS else 0
        if quick_failures >= MAX_QUICK_FAILURES and not stopping:
            log.error("workers keep failing as they start (%s in a row); stopping", quick_failures)
            stop(signal.SIGTERM, None)
            exit_code = 1
            continue
        if number is not None and not stopping:
            log.warning("worker %s (pid %s) exited with status %s; starting another", number, pid, status)
            time.sleep(0.5)  # do not spin if workers die at once
            if not stopping:  # a stop may have come during the pause
                start_worker(number)
    sock.close()
    if exit_code:
        raise SystemExit(exit_code)


def fork_worker(create_app, prepare, sock: socket.socket, threads: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        die_with_parent()
        # Until the server runs, a stop simply ends the worker: an exception raised into
        # start-up code (imports, opening the index) can be swallowed by a library's bare
        # `except`, and the worker would then run on and keep the parent waiting.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})  # blocked by start_worker
        run_worker(create_app, prepare, sock, threads)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
    except BaseException:
        log.exception("worker failed")
        code = 1
    finally:
        logging.shutdown()
        os._exit(code)  # never return into the parent's code


def run_worker(create_app, prepare, sock: socket.socket, threads: int) -> None:
    app = create_app()
    note = prepare(app)
    if note:
        log.warning("index not ready: %s; the site explains how to build it", note)
    server = create_server(app, sockets=[sock], threads=threads, ident="news-archive")
    # From here a stop is graceful: waitress's loop turns SystemExit into a shutdown.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    server.run()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Have glibc's malloc use at most ``arenas`` heaps in this process (see above); whether it
    was set (not when ``MALLOC_ARENA_MAX`` or glibc's ``arena_max`` tunable is, nor on a C library
    without ``mallopt``)."""
    if os.environ.get("MALLOC_ARENA_MAX") or "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # (macOS has no mallopt)
        return False


def die_with_parent() -> None:
    """Linux: end this worker when the serving parent ends, however it ends."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM forwarding still applies
        pass
