"""Output codes: the designs' properties, the distance-softmax head against its formula and Eq. 6.3,
decoding, and the attribute analysis of Table 6.2."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasfg import codes


def test_one_hot_decoding_is_the_argmax():
    z = np.random.default_rng(0).normal(size=(50, 7)).astype("float32")
    np.testing.assert_array_equal(codes.decode(z, codes.one_hot_code(7)), np.argmax(z, axis=1))


def test_one_hot_with_fewer_bits_leaves_the_last_classes_on_the_zero_row():
    code = codes.one_hot_code(5, 3)
    np.testing.assert_array_equal(code[:3], np.eye(3)) and np.testing.assert_array_equal(code[3:], 0)


def test_default_length_is_ten_log2_n():
    assert codes.default_bits(100) == 66 and codes.make_code("gaussian", 100).shape == (100, 66)


def test_dense_random_codes_are_less_correlated_than_plain_draws():
    n, k = 20, 12
    chosen = codes.dense_random_code(n, k, candidates=300, seed=1)
    assert set(np.unique(chosen)) == {-1.0, 1.0}
    rng = np.random.default_rng(2)
    plain = [np.where(rng.uniform(size=(n, k)) < 0.5, -1.0, 1.0) for _ in range(100)]
    for axis in (0, 1):
        assert codes.max_correlation(chosen, axis) < np.median([codes.max_correlation(p, axis) for p in plain])


def test_max_correlation_matches_numpy():
    code = np.random.default_rng(3).normal(size=(6, 4))
    for axis, vectors in ((0, code), (1, code.T)):
        corr = np.abs(np.corrcoef(vectors))
        np.fill_diagonal(corr, 0)
        assert codes.max_correlation(code, axis) == pytest.approx(corr.max())


def test_data_based_code_of_a_block_diagonal_similarity_separates_the_blocks_in_its_first_bits():
    blocks = [0] * 4 + [1] * 3 + [2] * 5
    rng = np.random.default_rng(4)
    same = np.equal.outer(blocks, blocks)
    noise = rng.uniform(0, 0.02, (12, 12))
    similarity = np.where(same, 0.9, 0.01) + (noise + noise.T) / 2
    perm = rng.permutation(12)  # classes of a block need not be neighbours
    code = codes.data_based_code(similarity[np.ix_(perm, perm)], bits=5)
    first = code[:, :2]  # 3 blocks: the two lowest-cost cuts
    labels = np.asarray(blocks)[perm]
    distances = np.linalg.norm(first[:, None] - first[None], axis=-1)
    same_block = np.equal.outer(labels, labels)
    assert distances[same_block].max() < 0.2 * distances[~same_block].min()
    # The first bit alone is one cut: its sign splits the classes along block boundaries.
    for block in range(3):
        assert len(set(np.sign(code[labels == block, 0]))) == 1


def test_data_based_code_is_the_eigenvectors_of_the_normalized_laplacian():
    rng = np.random.default_rng(5)
    a = rng.uniform(size=(6, 6))
    similarity = (a + a.T) / 2
    code = codes.data_based_code(similarity, bits=3)
    s = similarity.copy()
    np.fill_diagonal(s, 0)
    d = s.sum(1)
    laplacian = np.diag(d ** -0.5) @ (np.diag(d) - s) @ np.diag(d ** -0.5)
    values = np.linalg.eigvalsh(laplacian)
    for j in range(3):
        np.testing.assert_allclose(laplacian @ code[:, j], values[j + 1] * code[:, j], atol=1e-5)
    np.testing.assert_allclose(code.T @ code, np.eye(3), atol=1e-5)
    with pytest.raises(ValueError, match="only 5 eigenvectors"):
        codes.data_based_code(similarity, bits=6)


def test_binarization():
    code = np.array([[0.3, -2.0], [-0.1, 0.5], [0.0, 1.0], [2.0, 3.0]], "float32")
    np.testing.assert_array_equal(codes.binarize(code, "zero"), [[1, -1], [-1, 1], [1, 1], [1, 1]])
    # medians 0.15 and 0.75
    np.testing.assert_array_equal(codes.binarize(code, "median"), [[1, -1], [-1, -1], [-1, 1], [1, 1]])


def test_class_similarity_compares_class_means():
    features = np.array([[0.0, 0], [0, 2], [1, 1], [5, 5], [5, 5], [0, 1.0]])
    labels = np.array([0, 0, 1, 2, 2, 1])
    similarity = codes.class_similarity(features, labels, 3)
    means = np.array([[0, 1], [0.5, 1], [5, 5]])
    squared = ((means[:, None] - means[None]) ** 2).sum(-1)
    sigma2 = np.median(squared[~np.eye(3, dtype=bool)])
    np.testing.assert_allclose(similarity, np.exp(-squared / (2 * sigma2)))
    with pytest.raises(ValueError, match=r"missing \[3\]"):
        codes.class_similarity(features, labels, 4)


def _head(code, z):
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    logits = -0.5 * ((u[:, None, :] - code[None]) ** 2).sum(-1)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return logits, e / e.sum(1, keepdims=True)


def test_the_head_is_a_softmax_over_negative_normalized_distances():
    rng = np.random.default_rng(6)
    code = codes.gaussian_code(5, 8, seed=1)
    z = rng.normal(size=(4, 8)).astype("float32") * 3
    logits, probabilities = _head(code, z)
    np.testing.assert_allclose(codes.distance_logits(z, code), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(codes.OutputCodes(code)(z), probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(codes.decode(z, code), np.argmax(probabilities, axis=1))


def test_the_loss_gradient_is_eq_6_3():
    """dJ/dz = (Y_hat - Y) (M - 1 U^T) (I |z| - z U^T) / |z|^2, by autodiff and by the formula.

    The thesis prints (Y - Y_hat) [(M - 1^T U) (I |z| - z U^T) / |z|^3]^T: the descent direction, and
    ``dU/dz`` with ``|z|^3`` where ``z U^T = z z^T / |z|`` needs ``|z|^2``.
    """
    rng = np.random.default_rng(7)
    code = codes.gaussian_code(6, 4, seed=2).astype("float64")
    z = rng.normal(size=(3, 4)) * 2
    labels = np.array([1, 4, 0])
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            labels, codes.distance_logits(variable, code), from_logits=True))
    autodiff = tape.gradient(loss, variable).numpy()
    _, y_hat = _head(code, z)
    y = np.eye(6)[labels]
    for b in range(3):
        norm = np.linalg.norm(z[b])
        u = z[b] / norm
        d_d_du = code - u[None]  # Eq. 6.1, (n, k)
        d_u_dz = (np.eye(4) * norm - np.outer(z[b], u)) / norm**2  # Eq. 6.2
        eq_6_3 = -(y[b] - y_hat[b]) @ d_d_du @ d_u_dz
        np.testing.assert_allclose(autodiff[b], eq_6_3, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_a_model_with_the_head_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(8)
    code = codes.make_code("dense_random", 4, 6, candidates=50)
    inputs = keras.Input((3,))
    z = keras.layers.Dense(6, name="identity_code")(inputs)
    model = keras.Model(inputs, codes.OutputCodes(code, name="identity")(z))
    centers = rng.normal(size=(4, 3)) * 3
    labels = rng.integers(0, 4, 256)
    x = (centers[labels] + rng.normal(size=(256, 3)) * 0.3).astype("float32")
    model.compile(keras.optimizers.Adam(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=8, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    model.save(tmp_path / "coded.keras")
    loaded = keras.saving.load_model(tmp_path / "coded.keras")
    np.testing.assert_array_equal(loaded.get_layer("identity").code, code)
    np.testing.assert_array_equal(model(x[:5]), loaded(x[:5]))


def test_attribute_correlations_find_the_attribute_of_each_bit():
    rng = np.random.default_rng(9)
    code = rng.normal(size=(10, 3))
    attributes = rng.uniform(size=(10, 5))
    attributes[:, 2] = 2 * code[:, 0] + 1  # correlates +1 with bit 0
    attributes[:, 4] = -code[:, 1]  # -1 with bit 1
    attributes[:, 0] = 0.5  # constant: left out
    rows = codes.attribute_correlations(code, attributes, list("abcde"), top=2)
    assert rows[0]["positive"][0] == ("c", pytest.approx(1.0))
    assert rows[1]["negative"][0] == ("e", pytest.approx(-1.0))
    expected = [np.corrcoef(code[:, 2], attributes[:, i])[0, 1] for i in range(1, 5)]
    assert rows[2]["positive"][0][1] == pytest.approx(max(expected))
    assert all(name != "a" for row in rows for side in ("positive", "negative") for name, _ in row[side])


def test_bad_designs_are_named():
    with pytest.raises(ValueError, match="code design must be one of"):
        codes.make_code("hadamard", 10)
    with pytest.raises(ValueError, match="needs a class-similarity matrix"):
        codes.make_code("data_based", 10)
    with pytest.raises(ValueError, match="6-bit code, but its input has 5"):
        codes.OutputCodes(np.ones((3, 6)))(np.ones((2, 5), "float32"))


def test_model_class_similarity_compares_the_class_means_of_a_layer():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="features")(inputs))
    x = np.random.default_rng(10).normal(size=(12, 2)).astype("float32")
    labels = np.arange(12) % 3
    data = tf.data.Dataset.from_tensor_slices((x, {"identity": labels})).batch(5)
    similarity = codes.model_class_similarity(model, data, "features", 3, target="identity")
    np.testing.assert_allclose(similarity, codes.class_similarity(model(x), labels, 3), rtol=1e-6)


def test_configs_describe_the_similarity_of_a_data_based_code(tmp_path):
    rng = np.random.default_rng(11)
    images = rng.uniform(0, 255, (12, 8, 8, 3)).astype("float32")
    labels = np.arange(12) % 3
    data = tf.data.Dataset.from_tensor_slices((images, {"identity": labels})).batch(5)
    spec = {"design": "data_based", "bits": 2, "similarity": {"features": "pixels"}}
    resolved = codes.resolve_similarities({"identity": spec}, data, {"identity": 3})
    gray = tf.reduce_mean(tf.image.resize(images, (16, 16)), axis=-1).numpy().reshape(12, -1)
    np.testing.assert_allclose(resolved["identity"]["similarity"], codes.class_similarity(gray, labels, 3), rtol=1e-5)
    assert resolved["identity"]["design"] == "data_based"

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(4, name="fc7")(keras.layers.Flatten()(inputs)))
    model.save(tmp_path / "model.keras")
    from_model = codes.resolve_similarities(
        {"identity": {**spec, "similarity": {"model": str(tmp_path), "layer": "fc7"}}}, data, {"identity": 3})
    np.testing.assert_allclose(from_model["identity"]["similarity"],
                               codes.class_similarity(model(images), labels, 3), rtol=1e-5)
    with pytest.raises(ValueError, match=r"output_codes.identity.similarity: expected"):
        codes.resolve_similarities({"identity": {**spec, "similarity": {"layer": "fc7"}}}, data, {"identity": 3})
