<?php
// index.php: which Galera node answers on the read/write and the read-only endpoint.
// JSON by default (for probes); a small HTML page when the client asks for text/html
// (the browser screenshot opens this page).
require __DIR__ . '/probe-lib.php';

$wantsHtml = stripos($_SERVER['HTTP_ACCEPT'] ?? '', 'text/html') !== false;

if ($wantsHtml) {
    $rows = [];
    $error = null;
    try {
        $cfg = probe_config();
        foreach (['rw', 'ro'] as $role) {
            $db = probe_connect($cfg, $role);
            $r = $db->query('SELECT @@hostname AS _host, @@wsrep_node_name AS _node')->fetch_assoc();
            $rows[$role] = [$cfg[$role]['host'] . ':' . ($cfg[$role]['port'] ?? 3306), probe_who($r),
                $role === 'rw' ? probe_writer($db) : ''];
            $db->close();
        }
    } catch (Throwable $e) {
        $error = $e->getMessage();
    }
    http_response_code($error === null ? 200 : 503);
    header('Content-Type: text/html; charset=utf-8');
    $h = fn($s) => htmlspecialchars((string)$s, ENT_QUOTES);
    echo "<!doctype html><html><head><meta charset='utf-8'><title>galera-ha-lab probe</title>",
         "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #999;padding:.3em .8em}",
         "table{border-collapse:collapse}.err{color:#b00}.ok{color:#070}</style></head><body>",
         "<h1>galera-ha-lab probe app</h1>";
    echo $error === null ? "<p class='ok'>Database reachable</p>" : "<p class='err'>Database error: {$h($error)}</p>";
    echo "<table><tr><th>endpoint</th><th>address</th><th>SELECT served by</th><th>writes go to</th></tr>";
    foreach ($rows as $role => [$addr, $who, $writer]) {
        echo "<tr><td>{$h($role)}</td><td>{$h($addr)}</td><td>{$h($who)}</td><td>{$h($writer)}</td></tr>";
    }
    echo "</table><p>", $h(date('c')), " &middot; ", probe_ms(), " ms &middot; ",
         "<a href='login.php'>login</a> <a href='course.php'>course</a> <a href='rw.php'>rw</a></p></body></html>\n";
    exit;
}

probe_run('index', function (array $cfg, array &$servedBy, array &$extra) {
    foreach (['rw', 'ro'] as $role) {
        $db = probe_connect($cfg, $role);
        $r = $db->query('SELECT @@hostname AS _host, @@wsrep_node_name AS _node')->fetch_assoc();
        $servedBy[$role] = probe_who($r);
        $db->close();
    }
    return 200;
});
