// The text of `sticky-runtime --help`.

export const EXIT_CODES = {
  /** Done; or a served cluster shut down cleanly. */
  ok: 0,
  /** A command failed (a reload stopped, a scale step failed), or shutdown had to kill workers. */
  failed: 1,
  /** Bad command line, option or config file, or no app file at the given path. */
  usage: 2,
  /** `serve` could not start: the app did not load, a port could not be bound, workers not ready. */
  startFailed: 3,
  /**
   * No running instance answers at the control socket, what answers there does not speak its
   * protocol, or the socket fails the ownership checks (`STICKY_ERR_CONTROL_UNTRUSTED`).
   */
  unavailable: 4,
} as const;

export const HELP = `Usage:
  sticky-runtime serve <app> [flags]     run <app> on a sticky cluster
  sticky-runtime reload                  rolling restart of a running cluster (prints progress)
  sticky-runtime scale <n>               grow or shrink a running cluster to <n> workers
  sticky-runtime status [--json]         slots, pids, uptime, restarts, states, queued connections;
                                         without --name/--control-socket: every named cluster of
                                         yours and the unnamed one here (--json: a line each)
  sticky-runtime status --watch          live view of the slots, redrawn in place (q quits)

<app> is a module exporting (default, or named \`app\` or \`server\`) an http/https Server, a request
listener (req, res), an Express or Koa app, a Fastify instance, or an (async) function returning one
of these. Don't call listen() in it: the cluster owns the port.

Serve flags:
  -p, --port <n>                 public port (default: $PORT, else 3000)
  -H, --host <addr>              address to bind (default: all)
  -w, --workers <n>              worker processes (default: available CPUs)
  --proxy-header <name>          route by the client address in this header, e.g. x-forwarded-for
  --trusted-proxies <a,b,…>      addresses/CIDRs of your load balancers: only they may forward a client
                                 address (required with --proxy-protocol), e.g. 10.0.0.0/8,::1
  --trusted-hops <n>             count form: which entry of --proxy-header is the client (from the right)
  --proxy-protocol               route by a PROXY protocol v1/v2 header
  --steering auto|kernel|primary IP mode: the kernel routes to the workers (Linux), or the primary hands over
  --metrics-port <n>             serve /metrics, /healthz, /readyz on this port
  --metrics-host <addr>          address of the metrics endpoint (default 127.0.0.1)
  --metrics-token-file <path>    /metrics asks for this bearer token (or $STICKY_RUNTIME_METRICS_TOKEN)
  --log-level <level>            fatal, error, warn, info (default), debug, trace, silent
  --prefix-output                the workers' stdout/stderr through the primary, each line prefixed
                                 [slot 0|pid 1234]; lines the terminal cannot take are dropped, counted
  --log-file <path>              also append the runtime's JSON logs here (and, prefixed, the app's output)
  --log-dir <dir>                each slot's app output in <dir>/slot-<n>.log (implies --prefix-output)
  --shutdown-delay <ms>          keep serving this long after SIGTERM before draining
  --max-requests <n>             recycle a worker after n requests (+ --max-requests-jitter <n>)
  --max-memory <bytes>           recycle a worker whose RSS passes this (--memory-check-interval <ms>)
  --shutdown-timeout <ms>  --drain-timeout <ms>  --ready-timeout <ms>  --readiness listen|manual
  --reload-concurrency <n>  --respawn-delay <ms>  --max-respawn-delay <ms>  --min-uptime <ms>
  --max-restarts <n>  --restart-window <ms>  --failed-slot-retry <ms>  --hash-seed <n>  --backlog <n>
  --max-head-bytes <n>  --head-timeout <ms>  --max-pending-heads <n>  --slot-queue-limit <n>
  --slot-wait-timeout <ms>
                                 each flag is the library option of the same name (camelCase)
  --watch                        reload (rolling, zero loss) when a file of the app's directory changes,
                                 300 ms after the last change; node_modules and dotfiles ignored
  --watch-path <path>            watch this instead (repeatable)
  --watch-ignore <pattern>       ignore this too: a name (*.log) or a path (public/uploads); repeatable
  -c, --config <file>            options file (default: ./sticky-runtime.config.{js,mjs,cjs} if present);
                                 exports an object of options plus app, port, host, name,
                                 prefixOutput, logFile, logDir and primary(primary), run in the
                                 primary before the port opens; flags win
Control flags (all commands):
  -n, --name <name>              a named cluster: its socket is $XDG_RUNTIME_DIR/sticky-runtime/<name>.sock
                                 (else <tmpdir>/sticky-runtime-<uid>/<name>.sock), in a 0700 directory
  --control-socket <path>        Unix socket of the running cluster (default ./sticky-runtime.sock),
                                 created owner-only (0600); commands use it only when it is their
                                 user's, in a directory no other user can write to
  -h, --help    -v, --version

Signals to the serve process (as gunicorn): TERM/INT graceful shutdown, a second one fast;
HUP rolling restart; TTIN/TTOU one worker more/fewer; USR2 reopens the --log-file/--log-dir files.

Exit codes: 0 ok · 1 a command failed, or shutdown had to kill workers · 2 bad flags, options or
config, or no app file · 3 serve could not start (the app did not load) · 4 no running cluster at
the control socket (or it is not trusted, or what answers is no cluster).
`;
