"""ROS 2 nodes: the only part of sorting_cell that imports rclpy."""
