"""monitor node: rates, latched states, and nodes whose heartbeat lapsed shown dead."""
import io
import json
import time

from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Bool

from sorting_cell.nodes.liveness import DETECTION_S, Heartbeat
from sorting_cell.nodes.monitor import MonitorNode
from sorting_cell.nodes.qos import latched_qos


class Lines(io.StringIO):
    def last(self):
        lines = [ln for ln in self.getvalue().splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else {}


def test_a_dead_node_shows_dead_not_its_last_ready_true(ros):
    clustering = ros.add(Node('clustering', context=ros.context))
    clustering.heartbeat = Heartbeat(clustering)
    ready = clustering.create_publisher(Bool, 'clustering/ready', latched_qos())
    ready.publish(Bool(data=True))
    out = Lines()
    ros.add(MonitorNode(out=out, context=ros.context, parameter_overrides=[
        Parameter('latched', value=['clustering/ready']), Parameter('period_s', value=0.2)]))
    ros.wait_for(lambda: out.last().get('latched', {}).get('clustering/ready') is True
                 and out.last().get('alive', {}).get('clustering') == 'alive', 20,
                 'ready True from a live clustering node')
    ros.executor.remove_node(clustering)
    ros.nodes.remove(clustering)
    clustering.destroy_node()
    t0 = time.monotonic()
    ros.wait_for(lambda: out.last().get('alive', {}).get('clustering') == 'dead'
                 and out.last()['latched']['clustering/ready'] == 'dead', DETECTION_S + 3,
                 'the dead node and its ready state shown dead')
    assert time.monotonic() - t0 < DETECTION_S + 3
