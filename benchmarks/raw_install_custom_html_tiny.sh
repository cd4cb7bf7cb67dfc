#!/usr/bin/env bash
# Yardstick: the docker work of one install run of custom-html-tiny, done by hand (create the secret,
# stack deploy, wait until the task is running and healthy, one HTTP GET through docker_gwbridge,
# then remove everything and wait until it is gone). Prints the converge and teardown seconds.
# The same commands as the issue's ../shared/bench/raw-install-custom-html-tiny.sh, but handed the
# materialised fixture repo as $1 (that one globs the state dir and breaks when it holds two).
# bench_run.py runs it side by side with a harness install run: the ratio is the harness's cost.
set -eu
src=$1
w=$(mktemp -d); git clone -q "$src" $w/r; cd $w/r
s=raw$RANDOM
export STACK_NAME=$s DOMAIN=$s.test HTTPD_CONF_VERSION=v2 SECRET_ADMIN_PASSWORD_VERSION=v1 LETS_ENCRYPT_ENV=production
head -c 18 /dev/urandom | base64 | docker secret create ${s}_admin_password_v1 - >/dev/null
t0=$(date +%s.%N); docker stack deploy --resolve-image never -c compose.yml -c compose.admin.yml $s >/dev/null 2>&1
until [ "$(docker service ls --filter name=${s}_app --format '{{.Replicas}}')" = "1/1" ]; do sleep 0.2; done
t1=$(date +%s.%N); cid=$(docker ps -q --filter label=com.docker.swarm.service.name=${s}_app)
ip=$(docker network inspect docker_gwbridge --format "{{(index .Containers \"$(docker inspect -f '{{.Id}}' $cid)\").IPv4Address}}" | cut -d/ -f1)
curl -fsS -H "Host: $DOMAIN" http://$ip/ >/dev/null
t2=$(date +%s.%N); docker stack rm $s >/dev/null
docker rm -f $(docker ps -aq --filter label=com.docker.stack.namespace=$s) >/dev/null 2>&1 || true
until [ -z "$(docker ps -aq --filter label=com.docker.stack.namespace=$s)" ]; do sleep 0.2; done
until docker volume rm ${s}_content >/dev/null 2>&1; do sleep 0.2; done
docker secret rm ${s}_admin_password_v1 >/dev/null
until [ -z "$(docker network ls -q --filter label=com.docker.stack.namespace=$s)" ]; do sleep 0.2; done
t3=$(date +%s.%N); awk -v a=$t0 -v b=$t1 -v c=$t2 -v d=$t3 "BEGIN{printf \"converge %.2fs teardown %.2fs\\n\", b-a, d-c}"; rm -rf $w
