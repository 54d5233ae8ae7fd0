<?php
// login.php: the database work of a Chamilo login, as Chamilo does it (one connection,
// autocommit statements): read the user row by username, log the login in track_e_login,
// and insert-or-refresh the user's row in track_e_online. ?username= (default admin).
require __DIR__ . '/probe-lib.php';

probe_run('login', function (array $cfg, array &$servedBy, array &$extra) {
    $username = (string)($_GET['username'] ?? 'admin');
    $ip = substr((string)($_SERVER['REMOTE_ADDR'] ?? '0.0.0.0'), 0, 39);
    $db = probe_connect($cfg, 'rw');

    $st = $db->prepare('SELECT id, username, status, active, @@hostname AS _host, '
        . '@@wsrep_node_name AS _node FROM user WHERE username = ?');
    $st->bind_param('s', $username);
    $st->execute();
    $user = $st->get_result()->fetch_assoc();
    $servedBy['user_read'] = probe_who($user);
    if ($user === null) {
        $extra['reason'] = "no such user: $username";
        return 404;
    }
    $uid = (int)$user['id'];

    $st = $db->prepare('INSERT INTO track_e_login (login_user_id, login_date, user_ip, logout_date) '
        . 'VALUES (?, UTC_TIMESTAMP(), ?, NULL)');
    $st->bind_param('is', $uid, $ip);
    $st->execute();
    $extra['login_id'] = $db->insert_id;

    // Chamilo's online tracking: refresh the user's row, insert it if there is none.
    $st = $db->prepare('UPDATE track_e_online SET login_date = UTC_TIMESTAMP(), user_ip = ? '
        . 'WHERE login_user_id = ? AND access_url_id = 1');
    $st->bind_param('si', $ip, $uid);
    $st->execute();
    if ($db->affected_rows === 0) {
        $st = $db->prepare('INSERT INTO track_e_online (login_user_id, login_date, user_ip, c_id, '
            . 'session_id, access_url_id) VALUES (?, UTC_TIMESTAMP(), ?, 0, 0, 1)');
        $st->bind_param('is', $uid, $ip);
        $st->execute();
    }
    $servedBy['write'] = probe_writer($db);
    $extra['user_id'] = $uid;
    $db->close();
    return 200;
});
