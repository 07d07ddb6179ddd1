#!/usr/bin/env bash
# The same rolling deploy as Baton's, scripted the way a careful operator would with ssh (ControlMaster,
# ProxyJump through the bastion) and the AWS CLI: suspend Auto Scaling, silence alarms, pull the image
# on every host in parallel; then host by host: deregister and wait until drained, swap the container,
# health-check it on the host, register and wait until in service; resume and re-enable at the end.
# Polls every 0.2 s. Environment: SSH_CONFIG, HOSTS ("ip=instance-id ..."), IMAGE, EMU (AWS endpoint),
# REGION, ASG, ELB, TG, ALARMS, SERIAL (hosts per batch: a count or a percentage; default 1).
# Used by bench/compare.ts.
set -euo pipefail
aws() { command aws --endpoint-url "$EMU" --region "$REGION" --output text "$@"; }
on() { ssh -F "$SSH_CONFIG" "$@"; }
PROCESSES="Launch Terminate AddToLoadBalancer AZRebalance HealthCheck ReplaceUnhealthy"

TG_ARN=$(aws elbv2 describe-target-groups --names "$TG" --query 'TargetGroups[0].TargetGroupArn')
aws autoscaling suspend-processes --auto-scaling-group-name "$ASG" --scaling-processes $PROCESSES
aws cloudwatch disable-alarm-actions --alarm-names $ALARMS
trap 'aws autoscaling resume-processes --auto-scaling-group-name "$ASG" --scaling-processes $PROCESSES; aws cloudwatch enable-alarm-actions --alarm-names $ALARMS' EXIT

# The bastion's master connection first: many ProxyJumps at once would each open their own and trip
# its sshd's MaxStartups (refused above 10 handshakes in flight).
on bastion true
pids=()
for h in $HOSTS; do on "${h%%=*}" docker pull -q "$IMAGE" >/dev/null & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done

tg_state() { aws elbv2 describe-target-health --target-group-arn "$TG_ARN" --targets "Id=$1,Port=8080" --query 'TargetHealthDescriptions[0].TargetHealth.State'; }
elb_state() { aws elb describe-instance-health --load-balancer-name "$ELB" --instances "$1" --query 'InstanceStates[0].[State,Description]' 2>/dev/null || echo gone; }

# One host's turn.
roll() {
  local ip=${1%%=*} id=${1##*=}
  aws elb deregister-instances-from-load-balancer --load-balancer-name "$ELB" --instances "$id" >/dev/null
  aws elbv2 deregister-targets --target-group-arn "$TG_ARN" --targets "Id=$id,Port=8080"
  until [ "$(tg_state "$id")" = unused ] && ! elb_state "$id" | grep -q InService; do sleep 0.2; done
  on "$ip" "docker rm -f live-previous >/dev/null 2>&1 || true
    docker stop -t 5 live >/dev/null && docker rename live live-previous
    docker run -d --name live --restart unless-stopped -p 8080:8080 -v /dev/log:/dev/log '$IMAGE' >/dev/null
    for i in \$(seq 300); do busybox wget -q -O /dev/null http://127.0.0.1:8080/health 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
  aws elb register-instances-with-load-balancer --load-balancer-name "$ELB" --instances "$id" >/dev/null
  aws elbv2 register-targets --target-group-arn "$TG_ARN" --targets "Id=$id,Port=8080"
  until [ "$(tg_state "$id")" = healthy ] && [ "$(elb_state "$id" | cut -f1)" = InService ]; do sleep 0.2; done
}

# Batches of SERIAL hosts (a count, or a percentage of the fleet), the hosts of a batch in parallel.
set -- $HOSTS
total=$#
case "${SERIAL:-1}" in
  *%) per=$(( (total * ${SERIAL%\%} + 99) / 100 )) ;;
  *) per=${SERIAL:-1} ;;
esac
[ "$per" -ge 1 ] || per=1
while [ $# -gt 0 ]; do
  pids=()
  for _ in $(seq "$per"); do
    [ $# -gt 0 ] || break
    roll "$1" & pids+=($!)
    shift
  done
  for p in "${pids[@]}"; do wait "$p"; done
done
