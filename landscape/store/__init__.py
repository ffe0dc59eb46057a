"""What landscape keeps on disk and hands back: the one `Surface` type and the rule that names
its values (surface.py), the surface file (surface_file.py: the paper's HDF5 layout, created
whole, filled through a journal, resumable), the Hessian file (hessian_file.py), the journal
and lock of a running file (journal.py), safe reading of HDF5 files (hdf5.py) and atomic,
private file writes (files.py)."""

from landscape.store.hdf5 import (attribute, check_backed, check_contents, damaged, guarded, open_file, plain, read_array,
                                  read_attrs, string_list, values)
from landscape.store.surface import (EIGEN_LABELS, EIGEN_METRICS, Surface, center_value, metric_label, plane_attrs,
                                     stem, value_names)
from landscape.store.surface_file import (Writer, check_writable, create, direction_tensors, read_directions,
                                          read_settings, read_surface, write_direction, write_track)

__all__ = ["EIGEN_LABELS", "EIGEN_METRICS", "Surface", "Writer", "attribute", "center_value", "check_backed", "check_contents",
           "check_writable", "create", "damaged", "direction_tensors", "guarded", "metric_label", "open_file", "plain",
           "plane_attrs", "read_array", "read_attrs", "read_directions", "read_settings", "read_surface", "stem", "string_list",
           "value_names", "values", "write_direction", "write_track"]
