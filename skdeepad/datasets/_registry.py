# ruff: noqa: E501  (SHA-256 digests do not fit in a line)
"""SHA-256 registry of every data file the loaders know.

Keys are paths relative to the data home, with ``/`` separators, in the
layout described in :func:`skdeepad.datasets.get_data_home`. A downloaded
file is kept only if its SHA-256 digest equals the value recorded here.
Files already present in the data home are not re-hashed on every load, only
when a loader is given ``verify=True`` or fails to read the file (see
:func:`skdeepad.datasets._fetch.fetch_file` and
:func:`skdeepad.datasets._fetch.read_data_file`).
"""

# The digests were computed from the files the mirrors named in ``_fetch.py``
# serve: the ODDS ``.mat`` files are byte-identical to those in the PyOD
# repository's ``notebooks/data`` folder, the ADBench ``.npz`` files to those
# in ADBench's ``adbench/datasets/Classical`` folder. ``odds/thyroid.mat`` and
# ``uci/abalone.csv`` have no default mirror (see ``_NO_DEFAULT_MIRROR``).
SHA256 = {
    "adbench/1_ALOI.npz": "792d0b5bd1147bfc9574a1974f157b39fbd4cbed8ecd04cf983fd554498ed477",
    "adbench/2_annthyroid.npz": "e738f7c58a8740d2c4aac4c71ff49ce5e1d1aa16f44178135fc9c09df05fad1b",
    "adbench/4_breastw.npz": "4f37ce07dbc25ddad8178fdc6d664ab46d2d0000ee28c2787c3c7ff3c03ef9f6",
    "adbench/5_campaign.npz": "74dd4d0072d6c6f1aabab63bc102f9633454f32bb936fa9bcfbd38f9f2386bcd",
    "adbench/6_cardio.npz": "bc5009bde6930b4d298b594f31b34485a9a17210cff0e8fb00a8c3068b885a2d",
    "adbench/7_Cardiotocography.npz": "5ae84910430f05923e11b6f537243263977c9136949dabd891e3570aeec51e29",
    "adbench/8_celeba.npz": "1cadfdea14cd8d240eca715a70c09c88af8621d086a7478c63f602d97adef0b5",
    "adbench/10_cover.npz": "945a097c3542ae81a551bf1c06dcad78a755d94f84fcaf1d60687e42d1a656df",
    "adbench/11_donors.npz": "5824ec854465f2763b4bfe3da1ae9f25ed5433b5c6e265d42e37da4f82a58679",
    "adbench/12_fault.npz": "ec27301f9a4cf7c5d8b22c360cf37ddb043b7fb062465723dfd8b34e2771e5dd",
    "adbench/14_glass.npz": "aa7a8db1d475ba01a10488af454bc15220a3d5951b010b03b7020567d8152cdc",
    "adbench/15_Hepatitis.npz": "4a87a2f7d8013e5bfde63294fae61ec7a612322de72f338a7f9491749025ad98",
    "adbench/16_http.npz": "9d98710091551587f4740cfc851a6b064fff6319a337c2dc77ee6da4bcc2e02c",
    "adbench/17_InternetAds.npz": "bdd8ad5cf5bf2cb96cba53dde30d522d0f6a279083a8e2bc7efbac5981b04385",
    "adbench/18_Ionosphere.npz": "bca46cb0cfd1bf9ddef6cde5ad2215d54fb0189508d0d4c4eb98e788cad69001",
    "adbench/19_landsat.npz": "ba17e2158c07469597b89db49d3982c874c6b713ff6670721ddc88969da77987",
    "adbench/20_letter.npz": "f986d3da80cf1fa2aea83a5ebe73b7d4800e0d4c01fdd1ae074b58d20f10d039",
    "adbench/21_Lymphography.npz": "dad977b04f4ea65b78ccd0e9f76b45175bad605165b37e63f3cc177845e67037",
    "adbench/22_magic.gamma.npz": "0be375984d7af9ea7a63b12206c240840d8b7daa3607021c5fb8756407dd86f1",
    "adbench/23_mammography.npz": "a0308ac9712d78321073b1c2dc98dc37665c0f35c1cc33019416fe8f8d7de7ea",
    "adbench/24_mnist.npz": "be7706272325fdd3592c1be555ae1a82f916a2f8545f4f8cbaa548ab102cc44c",
    "adbench/25_musk.npz": "2ed3f4392197b76a1e59116ff880c7720a4b026cf4842073a53b56fdea265017",
    "adbench/26_optdigits.npz": "60de17a375a278ba220a7849727d998aa02b5e2f9fd17732a004bba28de4656e",
    "adbench/27_PageBlocks.npz": "10a9b4d5bb5d3b9083caab4c4062f665610eada703c3d927bf7c34b1f2d0d223",
    "adbench/28_pendigits.npz": "c4936b89dcdad59d303020e492f763a0f54170080d787c77497609acbb9c2d79",
    "adbench/29_Pima.npz": "215454bb263a2f040945c9ea7bd7f06f1e89a61a3143bdb6f196e3887e801a7d",
    "adbench/30_satellite.npz": "1f048f5686f1b8c16a227fdfa3c81a62cd9a92715714a6b24c69b1c5ad96b46e",
    "adbench/31_satimage-2.npz": "1b056e357f801b8b20c3f380a30224a3c4088d7ed764ec5a24828dc9b1918d6f",
    "adbench/32_shuttle.npz": "26900b0f6be45d9ddb7a402c9b2f956ceda42d23a8ca4cf4406b8bc1352823d1",
    "adbench/33_skin.npz": "d02aa01ffc1b6bf2b8b1ac250c90e8a8eacd0cefc962940ed5cc4bf5deac9c95",
    "adbench/34_smtp.npz": "d2569fc9bc12115419e3f5b37d19921e10e6c26e5ad1e61064cfb0fbc402dfdd",
    "adbench/35_SpamBase.npz": "d0c46c7928e43f6496bcd06e09de0b70f6bc8143792dfa0a43f450263d254e9b",
    "adbench/37_Stamps.npz": "99fe739447284f613fa54bf2dccdb51c5120175ce6260adec6dad77576c42509",
    "adbench/38_thyroid.npz": "8de161b3f235b7647bb0b39a836d983ff61d67bf234edac461da2d71e889cb87",
    "adbench/39_vertebral.npz": "0816286f92b96fe6867664a41a031ac7228dcfbf1a5feefe50ca3883b2e9073d",
    "adbench/40_vowels.npz": "4bfc4244d1c882773bbbc50d4a5db5e52276e53506e46b2d45e02d074cfcb1b6",
    "adbench/41_Waveform.npz": "6c9d867337ad1a2f8372c1d27f4c032f0401237e2041b7c45f00de8d319ff30f",
    "adbench/42_WBC.npz": "650f9dcb129248f67a291be0974f533ef259fcbde50fce5c8ad2a1cb2652d03b",
    "adbench/43_WDBC.npz": "78d4606a1ab516f5b60b00c196497f3bbd6bd5e4548fd04cf5f2475209b34b85",
    "adbench/44_Wilt.npz": "c70b72aa611ec87b20efb400943ef3ce4f8bf7aa58fcef825fbd28cc5cee3cc9",
    "adbench/45_wine.npz": "d5ad8965d92cc57122fe1e6572bb301adbaf795b3e166d187ae00a704d8f6e20",
    "adbench/46_WPBC.npz": "68a6d67242643855713bcdad07d89ecc472bd00000dccc17ba87916eb2693d19",
    "adbench/47_yeast.npz": "bbb15c873d78a4f6a589f46d0f75814595e2282d2ae7ce7779c750f276c3770d",
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "odds/arrhythmia.mat": "e4d47e499591ae31e5d7f0cd983367092353eac240f48e14c9b36457edb3460d",
    "odds/cardio.mat": "5e568b6a73711012c481fa6cc984ab9c68e9a4fa44d6aeb3b43efa381c3f695b",
    "odds/glass.mat": "2c506e6e1e2ca1e82a905d10a90773151ff812c4bd969c71a12db5b2bb6e7921",
    "odds/ionosphere.mat": "8ac5dfa6f47db4acdfe10615489b7f7dd015d79d5b381ce641e72baca3cfefb0",
    "odds/letter.mat": "f4a229b0e2a6b0c9157ce27fa760bcbac0f948cd690b2f5d51c120e5450f2195",
    "odds/lympho.mat": "031b907ecb50347720b08b38f8139d05635adeca9335a064d89d5569c27a5834",
    "odds/mnist.mat": "9479e221f236684c09f3e11c7ad124725d34ecd301b9450425e8b113368413a6",
    "odds/musk.mat": "50bbf414caceb66cfe6f6b1eb7c1ff7c6eb1e6d87173f7bb597ba55cd3dc5493",
    "odds/optdigits.mat": "30c664cd6f3740a173277a27cd1028d471b06f0835a9902c9712749cec58c1c4",
    "odds/pendigits.mat": "7bc32ac83b3d583443acea8b1342a54aaa59eaedb9996af405322f473f3c22bc",
    "odds/pima.mat": "b6a5be8d548b9293d6958beceb1c77055591714d25d40d957eba87808456468f",
    "odds/satellite.mat": "6feac3112b9c14e1c3e60afc437f2f3d29dc1000119c9f950c628078778d6aa0",
    "odds/satimage-2.mat": "95c37a07cea2cb201f6900d14f521510e10b6b2f0074c06ac46d3157440ec67b",
    "odds/shuttle.mat": "b6e396c92354d5dcf5036901e36dc58e2913f2d1a5e138c35a2bedf9c69db899",
    "odds/thyroid.mat": "eb67e048a1fc2a260c5ad9196d552d3bf762400ec9671319bf60dc798b63faf2",
    "odds/vertebral.mat": "84b50b055f118f54b5c976650ccd284ab7c1adee822f8b3eb517c7e2c890d15e",
    "odds/vowels.mat": "51d5397bad1ceeda22b7cd44fd58125c5d603c9c2edb53aa59933330e259ac7b",
    "odds/wbc.mat": "afe6b26953cc196b9a480318c903e0edef22529c2f61bd02082438c6e70630a7",
    "uci/abalone.csv": "67edc596ed7ec6a92e8fd8698b018569e5d1d000dfe658da8eb4d7484103d9ef",
}
