from tuning.trial import trial_worker


def test_a_trial_worker_names_the_trial_host_pid_and_node():
    result = {"hostname": "node-a", "pid": 4242, "node_id": "ffee01", "eval_loss": 0.1}

    assert trial_worker("abc_00000", result) == "ray:abc_00000@node-a/4242 node=ffee01"


def test_a_trial_worker_without_a_node_id_names_the_process():
    assert trial_worker("abc_00000", {"hostname": "node-a", "pid": 4242}) == (
        "ray:abc_00000@node-a/4242"
    )
