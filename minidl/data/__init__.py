"""The data room, beside the stack: datastores, mini-batch queues, augmentation, the generated
digits, sequences, class labels, and data sets arranged in memory for training and prediction.

It uses core, backend and _matlab only; layers, networks and training use it.
"""

from .arraydatastore import (
    DATASTORE_TYPES,
    ArrayDatastore,
    CombinedDatastore,
    arrayDatastore,
    combine,
)
from .augment import ImageDataAugmenter, imageDataAugmenter
from .augmented_datastore import AugmentedImageDatastore, augmentedImageDatastore
from .datasets import DigitData, digits
from .datastore import (
    ImageDatastore,
    countEachLabel,
    hasdata,
    imageDatastore,
    partition_bounds,
    read,
    readall,
    readimage,
    reset,
    shuffle,
    splitEachLabel,
)
from .labels import class_names, is_label_vector, label_targets, one_hot, scores2label
from .minibatchqueue import MiniBatchQueue, minibatchqueue
from .observations import (
    Observations,
    arrange,
    class_axis,
    feature_rows,
    is_datastore,
    matlab_layout,
    numeric_targets,
)
from .sequences import SequenceObservations, is_sequence_list, sequence_observations

__all__ = [
    "ArrayDatastore", "AugmentedImageDatastore", "CombinedDatastore", "DATASTORE_TYPES",
    "DigitData", "ImageDataAugmenter", "ImageDatastore", "MiniBatchQueue", "Observations",
    "SequenceObservations", "arrange", "arrayDatastore", "augmentedImageDatastore", "class_axis",
    "class_names", "combine", "countEachLabel", "digits", "feature_rows", "hasdata",
    "imageDataAugmenter", "imageDatastore", "is_datastore", "is_label_vector", "is_sequence_list",
    "label_targets", "matlab_layout", "minibatchqueue", "numeric_targets", "one_hot",
    "partition_bounds", "read", "readall", "readimage", "reset", "scores2label",
    "sequence_observations", "shuffle", "splitEachLabel",
]
