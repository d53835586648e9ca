from glob import glob

from setuptools import find_packages, setup

package_name = 'depth_action_recognition'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench', 'bench.*']),
    # The ament resource marker, package.xml, launch, config and models land in share/<package>
    # exactly as colcon expects; the pip world finds them under sys.prefix/share the same way.
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        ('share/' + package_name + '/config/labels', glob('config/labels/*.yaml')),
        ('share/' + package_name + '/models', glob('models/*.safetensors') + glob('models/*.md')),
    ],
    python_requires='>=3.10',
    install_requires=[
        'numpy',
        'opencv-python-headless',
        'pyyaml',
        'safetensors',
        'torch',
        'setuptools',
    ],
    extras_require={
        # ROS 2 from the PyPI wheels when no ROS install provides rclpy and the messages.
        'ros': [
            'ros-rclpy[fastrtps]',
            'ros-sensor-msgs',
            'ros-std-msgs',
            'ros-diagnostic-msgs',
            'ros-lifecycle-msgs',
        ],
        'train': ['torchvision', 'matplotlib', 'tqdm', 'rosbags'],
        'dev': ['pytest', 'hypothesis', 'pytest-timeout'],
    },
    zip_safe=True,
    maintainer='depth_action_recognition maintainers',
    maintainer_email='maintainers@depth-action-recognition.invalid',
    description='Privacy-safe depth-only action recognition for ROS 2, distilled from an RGB teacher.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'depth-action-monitor = depth_action_recognition.monitor:main',
            'depth-action-recognizer = depth_action_recognition.recognizer_node:main',
            'depth-action-camera-sim = depth_action_recognition.camera_sim_node:main',
            'depth-action-events = depth_action_recognition.events_node:main',
        ],
    },
)
