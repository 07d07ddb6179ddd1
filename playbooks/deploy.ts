/**
 * The default rolling deploy. Copy it to write your own: every step is a typed task from 'baton'.
 *
 * Before any host leaves service: hold the Auto Scaling groups still, silence the alarms, pull the
 * new image everywhere. Then, `serial` hosts at a time: out of the load balancers (drained), swap the
 * container, health-check it, back into service. A host that fails goes back to its previous container.
 * At the end, old images of the repository are pruned on every host.
 */
import {
  deregister,
  healthCheck,
  playbook,
  prePull,
  pruneImages,
  register,
  replaceContainer,
  silenceAlarms,
  suspendAutoscaling,
} from 'baton';

export default playbook({
  name: 'deploy',
  preTasks: [suspendAutoscaling(), silenceAlarms(), prePull()],
  tasks: [deregister(), replaceContainer(), healthCheck(), register()],
  // Once every host is through: old images of the repository go, beyond container.keepImages.
  postTasks: [pruneImages()],
});
