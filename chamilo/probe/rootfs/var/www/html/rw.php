<?php
// rw.php: read-your-writes probe. Insert a unique token on the read/write endpoint, then at
// once read it back on the read-only endpoint; stale = the read did not see the write.
// ?sync_wait=N sets wsrep_sync_wait for the reading session (per-session causality check).
require __DIR__ . '/probe-lib.php';

probe_run('rw', function (array $cfg, array &$servedBy, array &$extra) {
    $token = bin2hex(random_bytes(16));
    $extra['token'] = $token;

    $w = probe_connect($cfg, 'rw');
    $st = $w->prepare('INSERT INTO lab_probe (token, written_at, written_by) '
        . 'VALUES (?, UTC_TIMESTAMP(6), @@wsrep_node_name)');
    $st->bind_param('s', $token);
    $st->execute();
    $servedBy['write'] = probe_writer($w);
    $w->close();

    $r = probe_connect($cfg, 'ro');
    if (isset($_GET['sync_wait']) && $_GET['sync_wait'] !== '') {
        $r->query('SET SESSION wsrep_sync_wait = ' . (int)$_GET['sync_wait']);
    }
    $st = $r->prepare('SELECT (SELECT COUNT(*) FROM lab_probe WHERE token = ?) AS found, '
        . '@@session.wsrep_sync_wait AS sync_wait, @@hostname AS _host, @@wsrep_node_name AS _node');
    $st->bind_param('s', $token);
    $st->execute();
    $row = $st->get_result()->fetch_assoc();
    $servedBy['read'] = probe_who($row);
    $extra['stale'] = ((int)$row['found']) === 0;
    $extra['sync_wait'] = (int)$row['sync_wait'];
    $r->close();
    return 200;
});
