<?php
// probe-lib.php: shared helpers for the probe pages (config, fresh connections, JSON answer).
// Why: every page must answer the same JSON shape — {ok, page, served_by, ms, error?} with
// HTTP 200 on success and 503 on a database failure — so the lab's HTTP probes and checkers
// can parse any page the same way. Nothing here is a page; requesting it outputs nothing.

const LAB_CONFIG_DEFAULT = '/etc/lab-app/config.php';

$GLOBALS['probe_t0'] = microtime(true);

/** Config array from /etc/lab-app/config.php (or $LAB_APP_CONFIG): rw, ro, user, password, database. */
function probe_config(): array
{
    $path = getenv('LAB_APP_CONFIG') ?: LAB_CONFIG_DEFAULT;
    if (!is_readable($path)) {
        throw new RuntimeException("config not readable: $path");
    }
    $cfg = require $path;
    if (!is_array($cfg) || !isset($cfg['rw']['host'])) {
        throw new RuntimeException("config $path must return ['rw' => ['host'=>..,'port'=>..], ...]");
    }
    $cfg['ro'] = $cfg['ro'] ?? $cfg['rw'];
    return $cfg;
}

/**
 * A fresh (never persistent) connection to the 'rw' or 'ro' endpoint, with 2 s connect and
 * read timeouts, so a hung backend turns into a quick 503 instead of a hung request.
 */
function probe_connect(array $cfg, string $role): mysqli
{
    mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
    $ep = $cfg[$role];
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 2);
    $db->options(MYSQLI_OPT_READ_TIMEOUT, 2);
    $db->real_connect($ep['host'], $cfg['user'], $cfg['password'], $cfg['database'],
        (int)($ep['port'] ?? 3306));
    $db->set_charset('utf8mb4');
    return $db;
}

/** "hostname/wsrep_node_name" from a row that selected @@hostname AS _host, @@wsrep_node_name AS _node. */
function probe_who(?array $row): ?string
{
    return $row === null ? null : ($row['_host'] ?? '?') . '/' . ($row['_node'] ?? '?');
}

/**
 * Which node takes writes on this connection. Through ProxySQL a plain SELECT goes to a
 * reader; "... FROM DUAL FOR UPDATE" matches the usual FOR UPDATE rule and goes to the writer.
 */
function probe_writer(mysqli $db): ?string
{
    $r = $db->query('SELECT @@hostname AS _host, @@wsrep_node_name AS _node FROM DUAL FOR UPDATE');
    return probe_who($r->fetch_assoc());
}

function probe_ms(): float
{
    return round((microtime(true) - $GLOBALS['probe_t0']) * 1000, 1);
}

/** Send the JSON answer and stop. */
function probe_reply(string $page, bool $ok, array $servedBy, int $status, array $extra = [],
                     ?string $error = null): void
{
    $body = ['ok' => $ok, 'page' => $page, 'served_by' => (object)$servedBy, 'ms' => probe_ms()];
    if ($error !== null) {
        $body['error'] = $error;
    }
    $body += $extra;
    http_response_code($status);
    header('Content-Type: application/json');
    header('Cache-Control: no-store');
    echo json_encode($body, JSON_UNESCAPED_SLASHES), "\n";
    exit;
}

/** Run $fn(config, &$servedBy, &$extra); any exception is a database failure: 503 with the reason. */
function probe_run(string $page, callable $fn): void
{
    $servedBy = [];
    $extra = [];
    try {
        $status = $fn(probe_config(), $servedBy, $extra) ?? 200;
    } catch (Throwable $e) {
        $code = $e instanceof mysqli_sql_exception ? ' [' . $e->getCode() . ']' : '';
        probe_reply($page, false, $servedBy, 503, $extra, get_class($e) . $code . ': ' . $e->getMessage());
    }
    $ok = $status < 400;
    $reason = $extra['reason'] ?? 'failed';
    unset($extra['reason']);
    probe_reply($page, $ok, $servedBy, $status, $extra, $ok ? null : $reason);
}
