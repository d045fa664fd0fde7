"""scikit-learn's own estimator checks on the clusterer and the feature extractors."""
import warnings

import pytest
import sklearn.utils.estimator_checks as checks

from sorting_cell.clustering import ImageClusterer
from sorting_cell.features import (ColorHistogram, EfficientNetLiteFeatures, GaborFeatures,
                                   HOGFeatures, LiteRTFeatures, RawPixels)


def test_image_clusterer_passes_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        results = checks.check_estimator(ImageClusterer(n_clusters=2), on_fail=None)
    failed = [(r['check_name'], str(r['exception'])[:200]) for r in results
              if r['status'] == 'failed']
    assert len(results) >= 40 and not failed, failed


# The extractors take images (arrays of any size), not an (n_samples, n_features) matrix,
# so check_estimator's data checks do not apply; these are its checks of the estimator
# contract itself (construction, parameters, cloning, tags), all of which must hold.
API_CHECKS = ('check_no_attributes_set_in_init', 'check_parameters_default_constructible',
              'check_get_params_invariance', 'check_set_params', 'check_estimator_repr',
              'check_estimator_cloneable', 'check_estimator_tags_renamed',
              'check_valid_tag_types', 'check_dont_overwrite_parameters')


@pytest.mark.parametrize('cls', [HOGFeatures, RawPixels, GaborFeatures, ColorHistogram,
                                 LiteRTFeatures, EfficientNetLiteFeatures])
@pytest.mark.parametrize('check', API_CHECKS)
def test_feature_extractors_keep_the_estimator_contract(cls, check):
    getattr(checks, check)(cls.__name__, cls())
