"""run.sh starts each emulator (settings from the environment) and it announces its port."""

import os
import re
import subprocess

import requests

HERE = os.path.dirname(os.path.abspath(__file__))


def start(kind, data_dir, env):
    proc = subprocess.Popen(
        [os.path.join(HERE, "run.sh"), kind, "0", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, **env),
    )
    line = proc.stdout.readline().decode()
    match = re.fullmatch(r"ready on http://127\.0\.0\.1:(\d+)\n", line)
    assert match, line
    return proc, f"http://127.0.0.1:{match.group(1)}"


def stop(proc):
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def test_run_sh_cos_and_qiniu(tmp_path):
    proc, url = start("cos", tmp_path / "cos", {"COS_EMU_BUCKET": "envbucket-1250000000", "COS_EMU_REGION": "ap-shanghai"})
    try:
        virtual_host = {"Host": "envbucket-1250000000.cos.ap-shanghai.myqcloud.com"}
        r = requests.get(url + "/k", headers=virtual_host)
        assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content  # unsigned, but the bucket is known
        assert requests.get(url + "/k", headers={"Host": "examplebucket-1250000000.cos.ap-shanghai.myqcloud.com"}).status_code == 404
    finally:
        stop(proc)
    assert (tmp_path / "cos" / "objects").is_dir()

    proc, url = start("qiniu", tmp_path / "qiniu", {"QINIU_EMU_BUCKET": "env-bucket"})
    try:
        from qiniu import Auth, put_data
        from qiniu.http.endpoint import Endpoint
        from qiniu.http.region import Region, ServiceName

        host = url.split("://")[1]
        regions = [Region(region_id="emu", services={ServiceName.UP: [Endpoint(host, default_scheme="http")]})]
        tok = Auth("MY_ACCESS_KEY", "MY_SECRET_KEY").upload_token("env-bucket", "k")
        ret, info = put_data(tok, "k", b"v", regions=regions)
        assert info.status_code == 200 and ret["key"] == "k"
    finally:
        stop(proc)


def test_run_sh_oss(tmp_path):
    proc, url = start("oss", tmp_path / "oss", {"OSS_EMU_REGION": "cn-shanghai"})
    try:
        r = requests.get(url + "/pb-test/k")
        assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content  # anonymous
        import alibabacloud_oss_v2 as oss

        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
            "PBTESTOSSACCESSKEY01", "pbtest/oss+secret0000000000000000")
        cfg.region, cfg.endpoint, cfg.use_path_style = "cn-shanghai", url, True
        oss.Client(cfg).put_object(oss.PutObjectRequest(bucket="pb-test", key="k", body=b"v"))
    finally:
        stop(proc)
    assert (tmp_path / "oss" / "objects").is_dir()
