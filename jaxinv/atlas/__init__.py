"""Whole layers of a network as a static site: one program per layer, dataset examples, dead units.

``jaxinv.atlas(network, layers, out=FOLDER, key=...)`` (`jaxinv.atlas.build.atlas`; on the
command line ``jaxinv atlas``) writes, for each layer, a grid of every unit and a page per unit
with its visualisation, its top-k and bottom-k pictures of a folder (cropped around the
strongest position, the unit's receptive field wide), and the value the visualisation reaches
over the largest natural one; each layer's page also shows a few pictures' inversions and
caricatures at that layer. The parts:

- `jaxinv.atlas.examples`: the dataset examples, reduced on the fly from batched forward passes;
- `jaxinv.atlas.dead`: the gradient check at the start and lucid's redirected ReLU;
- `jaxinv.atlas.layers`: many units of a layer maximised in one compiled program;
- `jaxinv.atlas.inversions`: a few pictures of the folder inverted and caricatured at each layer;
- `jaxinv.atlas.units`, `jaxinv.atlas.site`: each unit's files, and the HTML pages (the index
  counts each layer's dead units, those rescued, and those above their natural maximum);
- `jaxinv.atlas.build`: the orchestration, resumable unit by unit.

``jaxinv.atlas`` is the function: the package imports it over the package's own name (as
`jaxinv.core.solver`); import the parts by their full names (``from jaxinv.atlas.examples import
dataset_examples``).
"""

from jaxinv.atlas.build import AtlasSite, atlas
from jaxinv.atlas.dead import redirected_relu, start_gradients
from jaxinv.atlas.examples import UnitExtremes, dataset_examples
from jaxinv.atlas.layers import LayerPictures, maximize_units

__all__ = ["AtlasSite", "LayerPictures", "UnitExtremes", "atlas", "dataset_examples", "maximize_units",
           "redirected_relu", "start_gradients"]
