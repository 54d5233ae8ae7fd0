<?php
// course.php: the reads of a Chamilo course home page on the read-only endpoint: the course
// row by code, then its tools (c_tool). ?code= (default DEMO).
require __DIR__ . '/probe-lib.php';

probe_run('course', function (array $cfg, array &$servedBy, array &$extra) {
    $code = (string)($_GET['code'] ?? 'DEMO');
    $db = probe_connect($cfg, 'ro');

    $st = $db->prepare('SELECT id, code, title, course_language, visibility, @@hostname AS _host, '
        . '@@wsrep_node_name AS _node FROM course WHERE code = ?');
    $st->bind_param('s', $code);
    $st->execute();
    $course = $st->get_result()->fetch_assoc();
    $servedBy['course'] = probe_who($course);
    if ($course === null) {
        $extra['reason'] = "no such course: $code";
        return 404;
    }

    $cid = (int)$course['id'];
    $st = $db->prepare('SELECT iid, name, link, visibility, category, @@hostname AS _host, '
        . '@@wsrep_node_name AS _node FROM c_tool WHERE c_id = ? AND session_id = 0 ORDER BY iid');
    $st->bind_param('i', $cid);
    $st->execute();
    $tools = $st->get_result()->fetch_all(MYSQLI_ASSOC);
    if ($tools) {
        $servedBy['tools'] = probe_who($tools[0]);
    }
    $extra['course'] = ['id' => $cid, 'code' => $course['code'], 'title' => $course['title']];
    $extra['tools'] = array_map(fn($t) => $t['name'], $tools);
    $db->close();
    return 200;
});
